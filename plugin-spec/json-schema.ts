import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { methods, methodNames } from './methods.js';

/**
 * The protocol as JSON Schema (draft 2020-12), one file per method, for people and tools that do
 * not read TypeScript. Generated from the zod schemas; a unit test fails when the committed
 * files drift from them (regenerate with `npm run spec:json`).
 */
export function jsonSchemaFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of methodNames) {
    const { request, response } = methods[name];
    const doc = {
      title: name,
      request: z.toJSONSchema(request, { io: 'input', unrepresentable: 'any' }),
      response: z.toJSONSchema(response, { io: 'output', unrepresentable: 'any' }),
    };
    files[`${name}.json`] = `${JSON.stringify(doc, null, 2)}\n`;
  }
  return files;
}

export function writeJsonSchemas(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const [file, content] of Object.entries(jsonSchemaFiles())) writeFileSync(join(dir, file), content);
}
