import { randomBytes } from 'node:crypto';
import { formatZodIssues } from '../format.js';
import { methods, type MethodName } from '../methods.js';
import { postPlugin, type PluginReply } from './client.js';
import type { LinkProbe } from './links.js';
import type { RealDockerSession } from './real-docker.js';

/** The two interfaces a plugin can be checked for. */
export type CheckInterface = 'network' | 'ipam';
/** The dockerd versions whose behaviour the kit knows (recorded in plugin-spec/fixtures). */
export type DockerVersion = '20.10' | '28';
/** Every version the kit knows, the default of --docker. */
export const DOCKER_VERSIONS: readonly DockerVersion[] = ['20.10', '28'];

/** What one check concluded. */
export type Outcome =
  | { readonly status: 'pass'; readonly note?: string }
  | { readonly status: 'fail'; readonly reason: string }
  | { readonly status: 'skip'; readonly reason: string };

/** Outcome constructors; a pass may carry a note (shown on its line). */
export const pass = (note?: string): Outcome => (note ? { status: 'pass', note } : { status: 'pass' });
export const fail = (reason: string): Outcome => ({ status: 'fail', reason });
export const skip = (reason: string): Outcome => ({ status: 'skip', reason });

/**
 * One rule of Docker's plugin protocol, checked against a live plugin. `id` is stable (scripts
 * pass it to --only/--skip); `rationale` says which dockerd behaviour breaks when the rule is not
 * kept. A check needs every interface in `needs` (one of them when `needsAny`), and applies to
 * the dockerd versions in `docker`. `run` may throw: the runner turns that into a FAIL.
 */
export interface Check {
  readonly id: string;
  readonly rationale: string;
  readonly needs: readonly CheckInterface[];
  readonly needsAny?: boolean;
  readonly docker: readonly DockerVersion[];
  /** A check of the real-Docker mode: a SKIP unless --docker-host and --image are given. */
  readonly needsDockerHost?: boolean;
  readonly run: (ctx: CheckContext) => Promise<Outcome>;
}

/** Thrown by {@link CheckContext} helpers: the plugin broke the rule; the message is the reason. */
export class CheckFailure extends Error {
  override readonly name = 'CheckFailure';
}

/**
 * What a check may use: the socket, the interfaces under test, a call helper, ids that never
 * collide with real networks, and an undo stack the runner drains after the check (pass or fail),
 * so nothing the kit created stays in the plugin.
 */
export class CheckContext {
  private readonly undo: Array<{ what: string; run: () => Promise<unknown> }> = [];

  constructor(
    readonly socketPath: string,
    readonly interfaces: readonly CheckInterface[],
    readonly timeoutMs: number,
    /** Looks up an interface in the plugin's namespace; undefined without --netns. */
    readonly linkProbe?: LinkProbe,
    /** The real-Docker mode's shared session; undefined without --docker-host. */
    readonly realDocker?: RealDockerSession,
  ) {}

  has(iface: CheckInterface): boolean {
    return this.interfaces.includes(iface);
  }

  /** A fresh 64-hex id like dockerd's, starting with `c0f0` so the kit's objects are recognisable. */
  newId(): string {
    return `c0f0${randomBytes(30).toString('hex')}`;
  }

  /** One call exactly as dockerd makes it; `body` objects are JSON-encoded, strings sent verbatim. */
  async call(method: string, body?: unknown, headers?: Record<string, string>): Promise<PluginReply> {
    const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return postPlugin(this.socketPath, method, text, { timeoutMs: this.timeoutMs, ...(headers ? { headers } : {}) });
  }

  /**
   * A call that must succeed as dockerd judges success: HTTP 200, no refusal (`Err`, or `Error`
   * for IpamDriver), and a body Go decodes into the method's reply struct. Returns the decoded reply.
   */
  async succeed(method: MethodName, body?: unknown): Promise<Record<string, unknown>> {
    const reply = await this.call(method, body);
    const refusal = refusalText(method, reply);
    if (reply.status !== 200) throw new CheckFailure(`${method} answered HTTP ${reply.status}: ${brief(reply)}`);
    if (refusal !== undefined) throw new CheckFailure(`${method} refused: ${refusal}`);
    const parsed = methods[method].response.safeParse(reply.json ?? (reply.text.trim() === '' ? null : reply.text));
    if (!parsed.success) throw new CheckFailure(`${method} reply is not what dockerd decodes: ${formatZodIssues(parsed.error, reply.json)} (${brief(reply)})`);
    return (parsed.data ?? {}) as Record<string, unknown>;
  }

  /** Registers an undo step (e.g. DeleteNetwork) to run after the check, newest first. */
  onCleanup(what: string, run: () => Promise<unknown>): void {
    this.undo.push({ what, run });
  }

  /** Runs every undo step, newest first; returns what could not be undone. */
  async cleanup(): Promise<string[]> {
    const failed: string[] = [];
    while (this.undo.length > 0) {
      const step = this.undo.pop() as { what: string; run: () => Promise<unknown> };
      await step.run().catch((err: unknown) => failed.push(`${step.what}: ${err instanceof Error ? err.message : String(err)}`));
    }
    return failed;
  }
}

/**
 * The refusal dockerd would see in a reply, if any: `Err` for Plugin and NetworkDriver (and any
 * non-200, pkg/plugins client.go), `Error` on a 200 for IpamDriver (ipams/remote/api Response).
 * Keys are matched as Go matches them (case-insensitively).
 */
export function refusalText(method: string, reply: PluginReply): string | undefined {
  const field = reply.status === 200 && method.startsWith('IpamDriver.') ? 'error' : 'err';
  for (const [key, value] of Object.entries(reply.json ?? {})) {
    if (key.toLowerCase() === field && typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

/** The start of a reply, for reasons. */
export function brief(reply: PluginReply): string {
  const text = reply.text.trim();
  return text === '' ? '(empty body)' : text.length > 160 ? `${text.slice(0, 160)}…` : text;
}

/** Runs `body` and turns a {@link CheckFailure} into a FAIL outcome. */
export async function asOutcome(body: () => Promise<Outcome | void>): Promise<Outcome> {
  try {
    return (await body()) ?? pass();
  } catch (err) {
    if (err instanceof CheckFailure) return fail(err.message);
    throw err;
  }
}

/** Throws a {@link CheckFailure} unless `ok`. */
export function expectThat(ok: boolean, reason: string): asserts ok {
  if (!ok) throw new CheckFailure(reason);
}
