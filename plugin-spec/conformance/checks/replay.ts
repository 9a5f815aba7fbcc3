import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isMethodName, type MethodName } from '../../methods.js';
import { asOutcome, brief, CheckFailure, pass, refusalText, type Check, type CheckContext, type DockerVersion } from '../registry.js';
import { wrap } from './protocol.js';

// Lifecycle replays: every request a real dockerd sent to a recording plugin (plugin-spec/
// fixtures, see its README for the docker commands), sent again in order to the plugin under
// test. What the recording plugin chose (pool ids, pools, addresses) is replaced by what this
// plugin answers, and every network/endpoint id by a fresh one, so a replay never touches a real
// network. Each step must succeed as dockerd judges success and decode as Go decodes it; rules
// with their own check (endpoint-no-override, refusal-in-error…) are judged there, not here.

interface Step { readonly line: number; readonly method: MethodName; readonly body: unknown }

interface Recording {
  readonly file: string;
  /** Steps the recording plugin refused: here a refusal is fine too, and a success is undone at once. */
  readonly mayRefuse: (step: Step) => boolean;
}

const RECORDINGS: Record<DockerVersion, Recording> = {
  '20.10': {
    file: 'docker-20.10-requests.jsonl',
    // The recorder could not do IPv6: it refused the gateway of fd00:199:6::/64 and dockerd rolled back.
    mayRefuse: (s) => s.method === 'IpamDriver.RequestAddress' && String(field(s.body, 'PoolID')).includes(':'),
  },
  '28': {
    file: 'docker-28.5-requests.jsonl',
    // The recorder needed IPv4Data: it refused the IPv6-only network (IPv4Data: []).
    mayRefuse: (s) => s.method === 'NetworkDriver.CreateNetwork' && Array.isArray(field(s.body, 'IPv4Data')) && (field(s.body, 'IPv4Data') as unknown[]).length === 0,
  },
};

function field(body: unknown, name: string): unknown {
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
}

/** The fixture file, next to the sources or (from dist/plugin-spec/…) in the package's plugin-spec/. */
function fixturePath(file: string): string {
  const candidates = [new URL(`../../fixtures/${file}`, import.meta.url), new URL(`../../../../plugin-spec/fixtures/${file}`, import.meta.url)];
  const found = candidates.map((u) => fileURLToPath(u)).find((p) => existsSync(p));
  if (!found) throw new Error(`the recorded fixture ${file} is missing; looked in ${candidates.map((u) => fileURLToPath(u)).join(', ')}`);
  return found;
}

/** The recorded requests of one dockerd version, in order, with their fixture line numbers. */
export function loadSteps(version: DockerVersion): Step[] {
  const lines = readFileSync(fixturePath(RECORDINGS[version].file), 'utf8').split('\n');
  return lines.flatMap((text, n) => {
    if (text.trim() === '') return [];
    const { method, body } = JSON.parse(text) as { method: string; body: string };
    if (!isMethodName(method)) throw new Error(`${RECORDINGS[version].file}:${n + 1}: unknown method ${method}`);
    return [{ line: n + 1, method, body: body.trim() === '' ? undefined : JSON.parse(body) as unknown }];
  });
}

/**
 * What the recording chose, to be replaced by this plugin's choices: the k-th RequestPool's pool
 * id is the k-th new PoolID used after it; an automatic pool's CIDR is read from that id (the
 * recorder put it there); an automatic address is the first later ReleaseAddress of that pool
 * that was never asked for explicitly.
 */
function recordedChoices(steps: readonly Step[]): { poolIds: Map<number, string>; addresses: Map<number, string> } {
  const poolIds = new Map<number, string>();
  const addresses = new Map<number, string>();
  const assigned = new Set<string>();
  const explicit = new Set(steps.filter((s) => s.method === 'IpamDriver.RequestAddress' && field(s.body, 'Address')).map((s) => `${String(field(s.body, 'PoolID'))} ${String(field(s.body, 'Address'))}`));
  steps.forEach((step, i) => {
    if (step.method === 'IpamDriver.RequestPool') {
      const id = steps.slice(i + 1).map((s) => field(s.body, 'PoolID')).find((p): p is string => typeof p === 'string' && !assigned.has(p));
      if (id !== undefined) { assigned.add(id); poolIds.set(i, id); }
    }
    if (step.method === 'IpamDriver.RequestAddress' && !field(step.body, 'Address')) {
      const pool = String(field(step.body, 'PoolID'));
      const release = steps.slice(i + 1).find((s) => s.method === 'IpamDriver.ReleaseAddress' && field(s.body, 'PoolID') === pool
        && !explicit.has(`${pool} ${String(field(s.body, 'Address'))}`) && ![...addresses.values()].includes(`${pool} ${String(field(s.body, 'Address'))}`));
      if (release) addresses.set(i, `${pool} ${String(field(release.body, 'Address'))}`);
    }
  });
  return { poolIds, addresses };
}

/** Rewrites recorded values in a body: exact strings (pool ids, spaces, pools), ids, and IPs with or without a prefix. */
class Substitution {
  readonly exact = new Map<string, string>();
  readonly ips = new Map<string, { ip: string; prefix?: string }>();
  private readonly ids = new Map<string, string>();
  constructor(private readonly newId: () => string) {}

  apply(value: unknown): unknown {
    if (typeof value === 'string') return this.string(value);
    if (Array.isArray(value)) return value.map((v) => this.apply(v));
    if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.apply(v)]));
    return value;
  }

  private string(value: string): string {
    const exact = this.exact.get(value);
    if (exact !== undefined) return exact;
    if (/^[0-9a-f]{64}$/.test(value)) {
      if (!this.ids.has(value)) this.ids.set(value, this.newId());
      return this.ids.get(value) as string;
    }
    const [ip, prefix] = value.split('/');
    const mapped = ip === undefined ? undefined : this.ips.get(ip);
    if (!mapped) return value;
    return prefix === undefined ? mapped.ip : `${mapped.ip}/${mapped.prefix ?? prefix}`;
  }
}

/**
 * The recording's user options (`-o foo=bar -o com.docker.network.bridge.name=xx`, `--ipam-opt
 * io=iv`, a gateway mode) were meant for the recorder: a plugin may refuse options it does not
 * know, and dockerd shows that refusal to the user. Replays send them empty; Docker's own keys
 * (enable_ipv4/6, internal) and every addressing option (--subnet, --ip-range, --gateway,
 * --aux-address) stay.
 */
function withoutUserOptions(method: MethodName, body: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (body === undefined) return body;
  if (method === 'IpamDriver.RequestPool' && body.Options) return { ...body, Options: {} };
  const options = body.Options as Record<string, unknown> | null | undefined;
  if ((method === 'NetworkDriver.CreateNetwork' || method === 'NetworkDriver.GwAllocCheck') && options?.['com.docker.network.generic']) {
    return { ...body, Options: { ...options, 'com.docker.network.generic': {} } };
  }
  return body;
}

/** The undo of a step that succeeded, registered so that nothing is left whatever happens next. */
function undoOf(ctx: CheckContext, method: MethodName, body: Record<string, unknown>, reply: Record<string, unknown>): [string, () => Promise<unknown>] | undefined {
  const net = body.NetworkID;
  switch (method) {
    case 'NetworkDriver.CreateNetwork': return ['DeleteNetwork', () => ctx.call('NetworkDriver.DeleteNetwork', { NetworkID: net })];
    case 'NetworkDriver.CreateEndpoint': return ['DeleteEndpoint', () => ctx.call('NetworkDriver.DeleteEndpoint', { NetworkID: net, EndpointID: body.EndpointID })];
    case 'NetworkDriver.Join': return ['Leave', () => ctx.call('NetworkDriver.Leave', { NetworkID: net, EndpointID: body.EndpointID })];
    case 'IpamDriver.RequestPool': return ['ReleasePool', () => ctx.call('IpamDriver.ReleasePool', { PoolID: reply.PoolID })];
    case 'IpamDriver.RequestAddress': return ['ReleaseAddress', () => ctx.call('IpamDriver.ReleaseAddress', { PoolID: body.PoolID, Address: String(reply.Address).split('/')[0] })];
    default: return undefined;
  }
}

async function replay(ctx: CheckContext, version: DockerVersion): Promise<string | undefined> {
  const steps = loadSteps(version).filter((s) => s.method.startsWith('Plugin.') || (s.method.startsWith('NetworkDriver.') ? ctx.has('network') : ctx.has('ipam')));
  const { poolIds, addresses } = recordedChoices(steps);
  const sub = new Substitution(() => ctx.newId());
  let gwAllocChecker = false;
  for (const [i, step] of steps.entries()) {
    if (step.method === 'NetworkDriver.GwAllocCheck' && !gwAllocChecker) continue; // dockerd asks only a driver that announced it
    const body = withoutUserOptions(step.method, sub.apply(step.body) as Record<string, unknown> | undefined);
    const doing = `${RECORDINGS[version].file}:${step.line} ${step.method}`;
    if (RECORDINGS[version].mayRefuse(step)) {
      const reply = await ctx.call(step.method, body);
      if (reply.status >= 500) throw new CheckFailure(`${doing}: a refusal is fine here, but HTTP ${reply.status} is a crash as dockerd reports it: ${brief(reply)}`);
      if (reply.status === 200 && refusalText(step.method, reply) === undefined) {
        const undo = undoOf(ctx, step.method, body ?? {}, reply.json ?? {});
        await undo?.[1](); // keep to the recorded state: dockerd rolled this back
      }
      continue;
    }
    const reply = await ctx.succeed(step.method, body).catch(wrap(doing));
    const undo = undoOf(ctx, step.method, body ?? {}, reply);
    if (undo) ctx.onCleanup(undo[0], undo[1]);
    if (step.method === 'NetworkDriver.GetCapabilities') gwAllocChecker = reply.GwAllocChecker === true;
    if (step.method === 'IpamDriver.GetDefaultAddressSpaces') learnSpaces(sub, step, reply);
    if (step.method === 'IpamDriver.RequestPool') learnPool(sub, step, poolIds.get(i), reply);
    if (step.method === 'IpamDriver.RequestAddress') learnAddress(sub, addresses.get(i), reply);
  }
  return gwAllocChecker || version === '20.10' || !ctx.has('network') ? undefined : 'GwAllocCheck steps were not sent: GetCapabilities does not announce GwAllocChecker';
}

function learnSpaces(sub: Substitution, _step: Step, reply: Record<string, unknown>): void {
  // The recorder's address space was "fakelocal"; dockerd asks pools from the plugin's local default.
  if (typeof reply.LocalDefaultAddressSpace === 'string') sub.exact.set('fakelocal', reply.LocalDefaultAddressSpace);
}

function learnPool(sub: Substitution, step: Step, recordedId: string | undefined, reply: Record<string, unknown>): void {
  if (recordedId === undefined) return;
  sub.exact.set(recordedId, String(reply.PoolID));
  const requested = String(field(step.body, 'Pool') ?? '');
  const recordedPool = requested || /(\d+\.\d+\.\d+\.\d+\/\d+)/.exec(recordedId)?.[1];
  if (recordedPool && recordedPool !== reply.Pool) {
    sub.exact.set(recordedPool, String(reply.Pool));
    sub.ips.set(recordedPool.split('/')[0] as string, { ip: String(reply.Pool).split('/')[0] as string, prefix: String(reply.Pool).split('/')[1] });
  }
}

function learnAddress(sub: Substitution, recorded: string | undefined, reply: Record<string, unknown>): void {
  if (recorded === undefined) return;
  const [ip, prefix] = String(reply.Address).split('/');
  const recordedIp = recorded.split(' ')[1] as string;
  if (ip !== undefined && ip !== recordedIp) sub.ips.set(recordedIp, { ip, prefix });
}

function replayCheck(version: DockerVersion): Check {
  return {
    id: `replay.${version}.lifecycle`,
    rationale: `what dockerd ${version === '28' ? '28.5' : '20.10'} sent for network create (every IPAM option, IPv6, internal${version === '28' ? ', routed, automatic pool' : ''}), two containers with ports, static IP and MAC, connect/disconnect, and removal; each answer must be a success dockerd decodes`,
    needs: ['network', 'ipam'], needsAny: true, docker: [version],
    run: (ctx) => asOutcome(async () => {
      return pass(await replay(ctx, version));
    }),
  };
}

/** One lifecycle replay per dockerd version. */
export const replayChecks: readonly Check[] = [replayCheck('20.10'), replayCheck('28')];