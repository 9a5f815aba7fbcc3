import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { jsonSchemaFiles, writeJsonSchemaFiles } from '../../../plugin-spec/generate-json-schema.js';
import { toJsonSchemas } from '../../../plugin-spec/json-schema.js';
import { methodNames } from '../../../plugin-spec/methods.js';

const dir = fileURLToPath(new URL('../../../plugin-spec/json-schema/', import.meta.url));

test('the committed JSON Schema files equal freshly generated ones (regenerate: npm run spec:json)', () => {
  if (process.env.UPDATE_JSON_SCHEMA === '1') writeJsonSchemaFiles(dir);
  const expected = jsonSchemaFiles();
  expect(readdirSync(dir).sort()).toEqual(Object.keys(expected).sort());
  for (const [file, content] of Object.entries(expected)) {
    expect(readFileSync(`${dir}${file}`, 'utf8'), `${file} is stale: run npm run spec:json`).toBe(content);
  }
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
