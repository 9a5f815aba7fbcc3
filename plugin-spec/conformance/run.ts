import { protocolChecks } from './checks/protocol.js';
import { ipamChecks } from './checks/ipam.js';
import { networkChecks } from './checks/network.js';
import { replayChecks } from './checks/replay.js';
import { dockerChecks } from './checks/docker.js';
import { postPlugin } from './client.js';
import type { LinkProbe } from './links.js';
import { RealDockerSession, type RealDockerOptions } from './real-docker.js';
import { CheckContext, DOCKER_VERSIONS, skip, type Check, type CheckInterface, type DockerVersion, type Outcome } from './registry.js';

/** Every check of the kit, in the order they run: wire first, then semantics, then replays, then the real-Docker mode. */
export const checks: readonly Check[] = [...protocolChecks, ...ipamChecks, ...networkChecks, ...replayChecks, ...dockerChecks];

/** Options of {@link runConformance}. */
export interface RunOptions {
  readonly socketPath: string;
  /** Interfaces to check; default what Plugin.Activate announces. */
  readonly interfaces?: readonly CheckInterface[];
  /** dockerd versions whose behaviour to check; default both. */
  readonly docker?: readonly DockerVersion[];
  /** Run only these check ids. */
  readonly only?: readonly string[];
  /** Skip these check ids (reported as SKIP). */
  readonly skip?: readonly string[];
  /** Per-call timeout; default 10 s (a hang is a failure, not a stuck run). */
  readonly timeoutMs?: number;
  /**
   * Looks up interfaces in the namespace the plugin creates them in (see links.ts ipLinkProbe);
   * without it network.join-interface is a SKIP.
   */
  readonly linkProbe?: LinkProbe;
  /**
   * The real-Docker mode (--docker-host, --image): a dockerd, an image and the plugin's driver
   * name; without it the docker.* checks are SKIPs. Whatever the mode created is removed after
   * the last check, whatever happened.
   */
  readonly realDocker?: RealDockerOptions;
  /**
   * When it aborts (the command: SIGINT or SIGTERM), the real-Docker mode's containers and
   * network are removed at once, and the checks not yet run are SKIPs ('interrupted').
   */
  readonly signal?: AbortSignal;
  /** Called after each check, for progress output. */
  readonly onResult?: (result: CheckResult) => void;
}

/** One line of the report. */
export interface CheckResult {
  readonly id: string;
  readonly rationale: string;
  readonly outcome: Outcome;
  readonly ms: number;
  /** Undo steps that failed after the check (objects the kit may have left in the plugin). */
  readonly leftovers: readonly string[];
}

/** The whole run. */
export interface ConformanceReport {
  readonly socketPath: string;
  readonly interfaces: readonly CheckInterface[];
  readonly docker: readonly DockerVersion[];
  readonly results: readonly CheckResult[];
  readonly ms: number;
  /** What the real-Docker mode could not remove at the end of the run (containers, the network); empty when all went. */
  readonly dockerLeftovers?: readonly string[];
}

/** Check ids the kit knows; --only/--skip must name one of them. */
export function unknownCheckIds(ids: readonly string[]): string[] {
  return ids.filter((id) => !checks.some((c) => c.id === id));
}

/** The interfaces Plugin.Activate announces, mapped to the kit's names. Throws when the socket does not answer. */
export async function announcedInterfaces(socketPath: string, timeoutMs = 10_000): Promise<CheckInterface[]> {
  const reply = await postPlugin(socketPath, 'Plugin.Activate', undefined, { timeoutMs });
  if (reply.status !== 200) throw new Error(`Plugin.Activate answered HTTP ${reply.status}: ${reply.text.slice(0, 200)}`);
  const implementsKey = Object.keys(reply.json ?? {}).find((k) => k.toLowerCase() === 'implements');
  const list = implementsKey ? (reply.json as Record<string, unknown>)[implementsKey] : undefined;
  const names = Array.isArray(list) ? list : [];
  return [...(names.includes('NetworkDriver') ? ['network' as const] : []), ...(names.includes('IpamDriver') ? ['ipam' as const] : [])];
}

function notApplicable(check: Check, interfaces: readonly CheckInterface[], docker: readonly DockerVersion[], options: RunOptions): string | undefined {
  if (options.skip?.includes(check.id)) return 'skipped by --skip';
  if (check.needsDockerHost && !options.realDocker) return 'needs --docker-host and --image';
  const missing = check.needs.filter((n) => !interfaces.includes(n));
  if (check.needs.length > 0 && (check.needsAny ? missing.length === check.needs.length : missing.length > 0)) {
    return `needs the ${check.needs.join(check.needsAny ? ' or ' : ' and ')} interface, not under test`;
  }
  if (!check.docker.some((v) => docker.includes(v))) return `applies to dockerd ${check.docker.join(', ')} only (--docker ${docker.join(',')})`;
  return undefined;
}

/**
 * Runs the selected checks one after the other against the plugin's socket. Each check's undo
 * steps run right after it, whatever its outcome; a check that throws (a transport error, a
 * timeout) is a FAIL with that message. Never throws for what the plugin does.
 */
export async function runConformance(options: RunOptions): Promise<ConformanceReport> {
  const started = Date.now();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const interfaces = options.interfaces ?? await announcedInterfaces(options.socketPath, timeoutMs);
  const docker = options.docker ?? DOCKER_VERSIONS;
  const results: CheckResult[] = [];
  let dockerLeftovers: string[] = [];
  const session = options.realDocker ? new RealDockerSession(options.realDocker, interfaces.includes('ipam')) : undefined;
  const onAbort = () => { void session?.cleanup(); };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (const check of checks.filter((c) => !options.only || options.only.includes(c.id))) {
      const t0 = Date.now();
      const why = options.signal?.aborted ? 'interrupted' : notApplicable(check, interfaces, docker, options);
      const ctx = new CheckContext(options.socketPath, interfaces, timeoutMs, options.linkProbe, session);
      let outcome: Outcome;
      try {
        outcome = why ? skip(why) : await check.run(ctx);
      } catch (err) {
        outcome = { status: 'fail', reason: err instanceof Error ? err.message : String(err) };
      }
      const leftovers = await ctx.cleanup();
      const result = { id: check.id, rationale: check.rationale, outcome, ms: Date.now() - t0, leftovers };
      results.push(result);
      options.onResult?.(result);
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    // docker.cleanup normally removed everything already; this covers a skipped or failed
    // docker.cleanup, an interrupted run and a run that threw.
    dockerLeftovers = session ? await session.cleanup() : [];
  }
  return { socketPath: options.socketPath, interfaces, docker, results, ms: Date.now() - started, ...(session ? { dockerLeftovers } : {}) };
}
