import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { jsonSchemaFiles, writeJsonSchemas } from '../../../plugin-spec/json-schema.js';

const dir = fileURLToPath(new URL('../../../plugin-spec/json-schema/', import.meta.url));

test('committed JSON Schema files match the zod schemas', () => {
  if (process.env.UPDATE_JSON_SCHEMA === '1') writeJsonSchemas(dir);
  const expected = jsonSchemaFiles();
  expect(readdirSync(dir).sort()).toEqual(Object.keys(expected).sort());
  for (const [file, content] of Object.entries(expected)) {
    expect(readFileSync(`${dir}${file}`, 'utf8'), `${file} is stale: run npm run spec:json`).toBe(content);
  }
});
