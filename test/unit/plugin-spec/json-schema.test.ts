import { mkdtempSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, onTestFinished, test } from 'vitest';
import { jsonSchemaDrift, jsonSchemaFiles, writeJsonSchemaFiles } from '../../../plugin-spec/generate-json-schema.js';
import { toJsonSchemas } from '../../../plugin-spec/json-schema.js';
import { methodNames } from '../../../plugin-spec/methods.js';

const committed = fileURLToPath(new URL('../../../plugin-spec/json-schema/', import.meta.url));

function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsnet-json-schema-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// Always a check, never a write: regenerating is `npm run spec:json` (a build, then the
// generator), so no environment variable can turn this test into a comparison of the files
// with themselves.
test('the committed JSON Schema files equal freshly generated ones (regenerate: npm run spec:json)', () => {
  expect(jsonSchemaDrift(committed), 'run npm run spec:json and commit plugin-spec/json-schema/').toEqual([]);
  expect(readdirSync(committed).filter((f) => f.endsWith('.json'))).toHaveLength(methodNames.length);
});

test('the check names every missing, stale and extra file', () => {
  const dir = scratchDir();
  writeJsonSchemaFiles(dir);
  expect(jsonSchemaDrift(dir)).toEqual([]);
  const join0 = join(dir, 'NetworkDriver.Join.json');
  writeFileSync(join0, readFileSync(join0, 'utf8').replace('"Err"', '"Error"'));
  unlinkSync(join(dir, 'Plugin.Activate.json'));
  writeFileSync(join(dir, 'NetworkDriver.Gone.json'), '{}\n');
  expect(jsonSchemaDrift(dir)).toEqual([
    'NetworkDriver.Gone.json belongs to no method',
    'NetworkDriver.Join.json differs from the generated schema',
    'Plugin.Activate.json is missing',
  ]);
});

test('the generator writes exactly the generated files and removes stale ones', () => {
  const dir = scratchDir();
  writeFileSync(join(dir, 'NetworkDriver.Gone.json'), '{}\n');
  writeFileSync(join(dir, 'notes.txt'), 'kept\n');
  expect(writeJsonSchemaFiles(dir).sort()).toEqual(Object.keys(jsonSchemaFiles()).sort());
  expect(readdirSync(dir).sort()).toEqual([...Object.keys(jsonSchemaFiles()), 'notes.txt'].sort());
  for (const [file, content] of Object.entries(jsonSchemaFiles())) expect(readFileSync(join(dir, file), 'utf8'), file).toBe(content);
});

test('every method has a request, a response and a refusal schema', () => {
  const schemas = toJsonSchemas();
  expect(Object.keys(schemas)).toEqual(methodNames);
  expect(schemas['NetworkDriver.CreateNetwork'].request).toMatchObject({
    type: 'object',
    required: ['NetworkID'],
    properties: { NetworkID: { type: 'string', minLength: 1, maxLength: 128 } },
  });
  expect(schemas['IpamDriver.RequestPool'].refusal).toMatchObject({ required: ['Error'] });
  expect(schemas['NetworkDriver.Join'].refusal).toMatchObject({ required: ['Err'] });
  // Docker's empty body is not JSON; it is documented, not silently turned into "anything".
  expect(JSON.stringify(schemas['Plugin.Activate'].request)).toContain('an empty body');
});
