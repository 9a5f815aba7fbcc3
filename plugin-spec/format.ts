import type { z } from 'zod';

const MAX_ISSUES = 5;

/**
 * One line naming each problem's field and the expected form, e.g.
 * `Interface.Address: expected an IPv4 or IPv6 address in CIDR form such as 10.0.0.1/24`.
 * Never echoes the body; capped so an adversarial body cannot make a huge reply.
 */
export function formatZodIssues(error: z.ZodError, input?: unknown): string {
  const flat = error.issues.flatMap((issue) => flatten(issue, [], input));
  const lines = flat.slice(0, MAX_ISSUES).map(({ path, message }) => `${formatPath(path) || 'body'}: ${message}`);
  const more = flat.length > MAX_ISSUES ? ` (and ${flat.length - MAX_ISSUES} more)` : '';
  return lines.join('; ') + more;
}

interface FlatIssue {
  readonly path: PropertyKey[];
  readonly message: string;
}

/**
 * Unions in the schemas are "null or X" and "'' or X": report the branch that got furthest,
 * not the "expected null" of the branch the input was never meant for.
 */
function flatten(issue: z.core.$ZodIssue, base: PropertyKey[], input: unknown): FlatIssue[] {
  const path = [...base, ...issue.path];
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const best = [...issue.errors].sort((a, b) => score(b) - score(a))[0] ?? [];
    if (best.length > 0) return best.flatMap((inner) => flatten(inner, path, input));
  }
  if (issue.code === 'invalid_type' && isMissing(input, path)) {
    return [{ path, message: `is required (${issue.message.replace(/^Invalid input: /, '')})` }];
  }
  return [{ path, message: issue.message.slice(0, 200) }];
}

/** True when the value at `path` is absent from the input (zod does not report inputs). */
function isMissing(input: unknown, path: readonly PropertyKey[]): boolean {
  let value = input;
  for (const part of path) {
    if (typeof value !== 'object' || value === null) return false;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value === undefined && path.length > 0;
}

function score(issues: readonly z.core.$ZodIssue[]): number {
  const first = issues[0];
  if (!first) return -1;
  const typeMismatch = first.code === 'invalid_type' || (first.code === 'invalid_value' && first.path.length === 0);
  return first.path.length * 10 + (typeMismatch ? 0 : 5);
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else {
      const key = String(part).slice(0, 64);
      out += /^[A-Za-z_]\w*$/.test(key) ? (out ? `.${key}` : key) : `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}
