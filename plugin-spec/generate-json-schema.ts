import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { toJsonSchemas } from './json-schema.js';
import { methods, type MethodName } from './methods.js';

/** Where the generated files are committed, relative to the repository root. */
export const JSON_SCHEMA_DIR = 'plugin-spec/json-schema';

/**
 * The committed JSON Schema files, `<Method>.json` → content, exactly as they should be on
 * disk. A unit test compares them with the files so they never go stale.
 */
export function jsonSchemaFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [name, schemas] of Object.entries(toJsonSchemas()) as Array<[MethodName, ReturnType<typeof toJsonSchemas>[MethodName]]>) {
    const doc = {
      $comment: 'Generated from plugin-spec/schemas by plugin-spec/generate-json-schema.ts; do not edit.',
      title: name,
      interface: methods[name].interface,
      noArguments: methods[name].noArguments,
      ...schemas,
    };
    files[`${name}.json`] = `${JSON.stringify(doc, null, 2)}\n`;
  }
  return files;
}

/**
 * How the `.json` files in `dir` differ from freshly generated ones: one line per missing,
 * stale or extra file, empty when they match. Only reads; the unit test fails on any line.
 */
export function jsonSchemaDrift(dir: string): string[] {
  const expected = jsonSchemaFiles();
  const present = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
  const problems: string[] = [];
  for (const [file, content] of Object.entries(expected)) {
    if (!present.includes(file)) problems.push(`${file} is missing`);
    else if (readFileSync(join(dir, file), 'utf8') !== content) problems.push(`${file} differs from the generated schema`);
  }
  for (const file of present) if (!(file in expected)) problems.push(`${file} belongs to no method`);
  return problems.sort();
}

/** Writes {@link jsonSchemaFiles} into `dir` and removes `.json` files no method owns any more. */
export function writeJsonSchemaFiles(dir: string): string[] {
  const files = jsonSchemaFiles();
  mkdirSync(dir, { recursive: true });
  for (const stale of readdirSync(dir).filter((f) => f.endsWith('.json') && !(f in files))) rmSync(join(dir, stale));
  for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, file), content);
  return Object.keys(files);
}

// `node dist/plugin-spec/generate-json-schema.js [dir]`, run from the repository root after a
// build; `npm run spec:json` does both. It only writes: checking is the unit test's job.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const dir = resolve(process.argv[2] ?? JSON_SCHEMA_DIR);
  if (process.argv[2] === undefined && !existsSync(resolve('plugin-spec'))) {
    console.error(`no plugin-spec/ here: run from the repository root or pass the output folder`);
    process.exit(2);
  }
  const written = writeJsonSchemaFiles(dir);
  console.log(`wrote ${written.length} JSON Schema files to ${dir}`);
}
