import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { formatPath, formatZodIssues, previewValue } from '../../../plugin-spec/format.js';

function errorOf(schema: z.ZodType, value: unknown): z.ZodError {
  const result = schema.safeParse(value);
  if (result.success) throw new Error('expected a failure');
  return result.error;
}

describe('formatZodIssues', () => {
  test('paths use dots for identifiers and brackets for indexes and dotted keys', () => {
    expect(formatPath(['IPv4Data', 0, 'Pool'])).toBe('IPv4Data[0].Pool');
    expect(formatPath(['Options', 'com.docker.network.portmap', 1, 'Proto'])).toBe('Options["com.docker.network.portmap"][1].Proto');
    expect(formatPath([])).toBe('');
    expect(formatPath(['Options', 'k'.repeat(100)])).toBe(`Options["${'k'.repeat(64)}"…]`);
  });

  test('previews are short and never dump containers', () => {
    expect(previewValue('10.0.0.2')).toBe('"10.0.0.2"');
    expect(previewValue('x'.repeat(100))).toBe(`"${'x'.repeat(64)}"… (100 characters)`);
    expect(previewValue({ secret: 'hunter2' })).toBe('an object');
    expect(previewValue([1, 2])).toBe('an array of 2 items');
    expect(previewValue(undefined)).toBe('nothing');
    expect(previewValue(null)).toBe('null');
    expect(previewValue(70000)).toBe('70000');
  });

  test('messages from zod itself get a preview of the value from the input', () => {
    const schema = z.object({ Count: z.number() });
    const input = { Count: 'three' };
    expect(formatZodIssues(errorOf(schema, input), input)).toBe('Count: expected number, received string');
    const strict = z.strictObject({ A: z.string() });
    expect(formatZodIssues(errorOf(strict, { A: 'x', Gatway: 1 }))).toBe('body: Unrecognized key: "Gatway"');
    const min = z.object({ Name: z.string().min(3) });
    expect(formatZodIssues(errorOf(min, { Name: 'ab' }), { Name: 'ab' })).toBe('Name: Too small: expected string to have >=3 characters, got "ab"');
  });

  test('a union reports the branch that got furthest', () => {
    const schema = z.object({ Options: z.union([z.null(), z.object({ Port: z.number({ error: 'expected a port' }) })]) });
    expect(formatZodIssues(errorOf(schema, { Options: { Port: 'x' } }))).toBe('Options.Port: expected a port');
  });

  test('at most five problems, identical ones once, the whole line bounded', () => {
    const schema = z.array(z.object({ A: z.string({ error: 'expected text' }) }));
    const message = formatZodIssues(errorOf(schema, Array.from({ length: 40 }, () => ({}))));
    expect(message.split('; ')).toHaveLength(6);
    expect(message).toMatch(/^\[0\]\.A: expected text; \[1\]\.A: expected text; .*; and 35 more problems$/);
    const long = z.object({ A: z.string({ error: 'x'.repeat(5000) }) });
    expect(formatZodIssues(errorOf(long, {})).length).toBeLessThanOrEqual(1200);
  });
});
