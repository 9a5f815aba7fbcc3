import { formatZodIssues } from '../../plugin-spec/format.js';
import { methods, refusalSchema, type MethodName } from '../../plugin-spec/methods.js';
import type { PluginReply } from '../../plugin-spec/conformance/client.js';

/**
 * Which error-reply rules to hold a plugin to.
 * - `tsnet` (default): the exact contract of tsnet's API layer. Bad JSON → 400 `{Err}`; a
 *   schema failure → 400 `{Err: "<Method>: <path>: <problem>"}`; unknown method → 404
 *   `{Err: "tsnet does not implement <Method>"}`.
 * - `docker`: only what Docker itself requires, for any other plugin: bad input gets a 4xx
 *   with `Err`, or a 200 refusal (`Err`, or `Error` for IpamDriver) that names the field;
 *   unknown methods get 404.
 */
export type ErrorContract = 'tsnet' | 'docker';

/** Each check returns the problems it found, [] when the reply is right, so failures read as a list. */
type Problems = string[];

const describe = (reply: PluginReply) => `HTTP ${reply.status} ${reply.text.slice(0, 200)}`;

function errText(reply: PluginReply): string | undefined {
  const err = reply.json?.Err;
  return typeof err === 'string' && err !== '' ? err : undefined;
}

/** A success reply: HTTP 200 and a body that satisfies the method's reply schema. */
export function successProblems(method: MethodName, reply: PluginReply): Problems {
  if (reply.status !== 200) return [`${method}: expected HTTP 200, got ${describe(reply)}`];
  const parsed = methods[method].response.safeParse(reply.json);
  return parsed.success ? [] : [`${method}: reply does not match its schema: ${formatZodIssues(parsed.error, reply.json)} (${describe(reply)})`];
}

/** The refusal of a well-formed body with a wrong or missing field, which must name `field`. */
export function refusalProblems(method: MethodName, reply: PluginReply, field: string, contract: ErrorContract): Problems {
  if (contract === 'tsnet') {
    const err = errText(reply);
    if (reply.status !== 400 || err === undefined) return [`${method}: expected HTTP 400 with {"Err"}, got ${describe(reply)}`];
    const problems: Problems = [];
    if (!err.startsWith(`${method}: `)) problems.push(`${method}: Err should start with "${method}: ", got ${JSON.stringify(err.slice(0, 200))}`);
    if (!err.includes(`${field}: `)) problems.push(`${method}: Err should name ${field}, got ${JSON.stringify(err.slice(0, 200))}`);
    return problems;
  }
  // Any plugin: the last path segment is the least a message can say about the field.
  const leaf = /(\w+)\W*$/.exec(field)?.[1] ?? field;
  if (reply.status >= 400 && reply.status < 500) {
    const err = errText(reply);
    if (err === undefined) return [`${method}: a ${reply.status} reply needs {"Err"} (Docker shows it), got ${describe(reply)}`];
    return err.includes(leaf) ? [] : [`${method}: Err should name ${field}, got ${JSON.stringify(err.slice(0, 200))}`];
  }
  if (reply.status === 200) {
    const refusal = refusalSchema(method).safeParse(reply.json);
    if (!refusal.success) {
      const hint = methods[method].interface === 'IpamDriver' && errText(reply) !== undefined
        ? ' (Docker reads IpamDriver refusals from "Error"; a 200 with only "Err" is taken as success)'
        : '';
      return [`${method}: bad input was not refused${hint}: ${describe(reply)}`];
    }
    // Docker finds Err/Error under any spelling (Go matches keys case-insensitively); read it as parsed.
    const data = refusal.data as { Err?: string; Error?: string };
    const message = data.Err ?? data.Error ?? '';
    return message.includes(leaf) ? [] : [`${method}: refusal should name ${field}, got ${JSON.stringify(message.slice(0, 200))}`];
  }
  return [`${method}: expected a 4xx or a 200 refusal, got ${describe(reply)}`];
}

/** A body that is not JSON, or JSON of the wrong top-level type: 400 with `Err` (any 4xx for `docker`). */
export function badBodyProblems(method: string, reply: PluginReply, contract: ErrorContract): Problems {
  const statusOk = contract === 'tsnet' ? reply.status === 400 : reply.status >= 400 && reply.status < 500;
  return statusOk && errText(reply) !== undefined ? [] : [`${method}: expected HTTP ${contract === 'tsnet' ? '400' : '4xx'} with {"Err"}, got ${describe(reply)}`];
}

/** A method the plugin does not have: 404, which Docker reads as "not implemented". */
export function notFoundProblems(method: string, reply: PluginReply, contract: ErrorContract): Problems {
  if (reply.status !== 404) return [`${method}: expected HTTP 404, got ${describe(reply)}`];
  if (contract === 'tsnet' && errText(reply) !== `tsnet does not implement ${method}`) {
    return [`${method}: expected {"Err": "tsnet does not implement ${method}"}, got ${describe(reply)}`];
  }
  return [];
}

/** A body over the plugin's limit: refused with 413 (or 400) and an `Err`, not a crash or a hang. */
export function oversizeProblems(method: string, reply: PluginReply): Problems {
  return (reply.status === 413 || reply.status === 400) && errText(reply) !== undefined
    ? []
    : [`${method}: expected HTTP 413 or 400 with {"Err"} for an oversized body, got ${describe(reply)}`];
}

/** Plugin.Activate: 200, a valid reply, NetworkDriver among Implements, and exactly `expected` when given. */
export function activateProblems(reply: PluginReply, expected?: readonly string[]): Problems {
  const problems = successProblems('Plugin.Activate', reply);
  if (problems.length > 0) return problems;
  const announced = (reply.json?.Implements as string[] | undefined) ?? [];
  if (!announced.includes('NetworkDriver')) problems.push(`Plugin.Activate: Implements should contain "NetworkDriver", got ${JSON.stringify(announced)}`);
  if (expected && [...announced].sort().join() !== [...expected].sort().join()) {
    problems.push(`Plugin.Activate: Implements should be ${JSON.stringify(expected)}, got ${JSON.stringify(announced)}`);
  }
  return problems;
}
