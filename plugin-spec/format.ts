import type { z } from 'zod';

/** At most this many problems are listed; the rest are counted. */
export const MAX_ISSUES = 5;
/** Longest preview of a received value, in characters, before it is cut. */
export const MAX_PREVIEW = 64;
/** Longest formatted message: Docker shows it to the user on one line. */
const MAX_MESSAGE = 1200;

/**
 * A short, safe rendering of a value a client sent, for "got …" in error messages: strings are
 * quoted and cut to {@link MAX_PREVIEW} characters, containers are only described, so an error
 * never echoes a body (which may hold secrets in options) or grows with it.
 */
export function previewValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    if (value.length <= MAX_PREVIEW) return JSON.stringify(value);
    return `${JSON.stringify(value.slice(0, MAX_PREVIEW))}… (${value.length} characters)`;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return String(value).slice(0, MAX_PREVIEW);
  }
  if (Array.isArray(value)) return `an array of ${value.length} item${value.length === 1 ? '' : 's'}`;
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

/**
 * One line naming each problem's field and the expected form, e.g.
 * `Interface.Address: expected an IPv4 address in CIDR form such as 10.0.0.2/24, got "10.0.0.2"`.
 * Problems are joined with "; ", capped at {@link MAX_ISSUES}, and the whole line is bounded, so
 * an adversarial body cannot produce a large reply. Called by the API layer on a failed
 * `safeParse`; the result goes after `"<Method>: "` in the `Err` Docker shows the user.
 *
 * The plugin-spec schemas put "got …" into their own messages. `input` (the parsed body) is
 * optional and only used to add a preview to messages that lack one (zod's built-in messages).
 */
export function formatZodIssues(error: z.ZodError, input?: unknown): string {
  const lines: string[] = [];
  for (const issue of error.issues) {
    for (const flat of flatten(issue, [])) {
      const line = render(flat, input);
      if (!lines.includes(line)) lines.push(line);
    }
  }
  const shown = lines.slice(0, MAX_ISSUES).join('; ');
  const more = lines.length > MAX_ISSUES ? `; and ${lines.length - MAX_ISSUES} more problems` : '';
  const text = shown + more;
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE - 1)}…` : text;
}

interface FlatIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly input: unknown;
  readonly hasInput: boolean;
}

/**
 * Reduces zod's nested issues to leaf problems with absolute paths. Record-key problems carry
 * their real message one level down; for a union the branch that got furthest is reported,
 * unless every branch failed on the value's type alone, where the union's own message (which
 * lists the accepted forms) says more.
 */
function flatten(issue: z.core.$ZodIssue, base: readonly PropertyKey[]): FlatIssue[] {
  const path = [...base, ...issue.path];
  if ((issue.code === 'invalid_key' || issue.code === 'invalid_element') && issue.issues.length > 0) {
    return issue.issues.flatMap((inner) => flatten(inner, path));
  }
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const branches = issue.errors.filter((branch) => branch.length > 0);
    const allTypeMismatch = branches.every((b) => b.length === 1 && b[0]?.path.length === 0 && b[0].code === 'invalid_type');
    if (!allTypeMismatch) {
      const best = [...branches].sort((a, b) => depth(b) - depth(a))[0] ?? [];
      return best.flatMap((inner) => flatten(inner, path));
    }
  }
  const hasInput = 'input' in issue;
  return [{ path, message: issue.message, input: hasInput ? issue.input : undefined, hasInput }];
}

function depth(issues: readonly z.core.$ZodIssue[]): number {
  return Math.max(...issues.map((issue) => issue.path.length * 2 + (issue.code === 'invalid_type' ? 0 : 1)));
}

function render(flat: FlatIssue, input: unknown): string {
  let message = flat.message.replace(/^Invalid input: /, '').slice(0, 240);
  if (!/\bgot\b|\breceived\b/.test(message)) {
    const found = flat.hasInput ? { value: flat.input } : valueAt(input, flat.path);
    if (found) message += `, got ${previewValue(found.value)}`;
  }
  return `${formatPath(flat.path) || 'body'}: ${message}`;
}

/** The value at `path` inside `input`, or undefined when the path leads nowhere. */
function valueAt(input: unknown, path: readonly PropertyKey[]): { value: unknown } | undefined {
  if (input === undefined) return undefined;
  let value: unknown = input;
  for (const part of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return { value };
}

/**
 * `IPv4Data[0].Pool`, `Options["com.docker.network.portmap"][1].Proto`: dots for identifiers,
 * brackets for indexes and for keys that are not identifiers. Keys are cut to
 * {@link MAX_PREVIEW} characters because they come from the client.
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') {
      out += `[${part}]`;
      continue;
    }
    const key = String(part);
    if (key.length <= MAX_PREVIEW && /^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) out += out ? `.${key}` : key;
    else out += key.length > MAX_PREVIEW ? `[${JSON.stringify(key.slice(0, MAX_PREVIEW))}…]` : `[${JSON.stringify(key)}]`;
  }
  return out;
}
