import { z } from 'zod';
import { methods, methodNames, refusalSchema, type MethodName } from './methods.js';

/** The JSON Schema documents of one method. */
export interface MethodJsonSchemas {
  readonly request: unknown;
  readonly response: unknown;
  /** The body of a refusal with HTTP 200 (`{Err}`, or `{Error}` for IpamDriver). */
  readonly refusal: unknown;
}

/**
 * zod's JSON Schema of one schema. Custom checks (CIDR forms, map sizes) have no JSON Schema
 * form; they are carried as `description`/`maxProperties` metadata on the zod schemas instead.
 * The only unrepresentable type is the `undefined` that stands for Docker's empty body.
 */
function convert(schema: z.ZodType): unknown {
  return z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: () => ({ not: {}, description: 'an empty body (Content-Length: 0), which is not JSON' }),
  });
}

/**
 * The protocol as JSON Schema (draft 2020-12), per method, for people and tools that do not
 * read TypeScript. Generated from the zod schemas in `methods`, so it cannot disagree with them.
 */
export function toJsonSchemas(): Record<MethodName, MethodJsonSchemas> {
  const out = {} as Record<MethodName, MethodJsonSchemas>;
  for (const name of methodNames) {
    const { request, response } = methods[name];
    out[name] = { request: convert(request), response: convert(response), refusal: convert(refusalSchema(name)) };
  }
  return out;
}
