import { callDeadline } from '../../src/core/deadline.js';
import { Coalesced } from '../../src/core/coalesce.js';
import { Backoff } from '../../src/core/backoff.js';
import type { Logger } from 'pino';
import type { KvEvent, KvStore, KvWatch } from '../../kvstore/kvstore.js';
import { isIP } from 'node:net';
import { errorText } from '../../src/core/errors.js';
import { addressOf, ipToBigInt } from '../../src/core/net.js';
import type { HostNet, HostOp } from '../../src/host/hostnet.js';
import { overlayKeys, type PublishedEndpoint, type PublishedVtep } from './registry.js';

const ZERO_MAC = '00:00:00:00:00:00';
/** Even without events, the kernel is compared with etcd this often (self-healing). */
const RESYNC_MS = 30_000;

/** One overlay's peers as this host knows them from etcd, and whether the kernel matches (for `tsnet peers`). */
export interface PeerReport {
  readonly overlay: string;
  readonly device: string;
  readonly vteps: ReadonlyArray<{
    readonly host: string;
    readonly address: string;
    readonly local: boolean;
    /** When this host last saw the VTEP published (it is withdrawn with its host's lease). */
    readonly seenAt?: string;
    /** `names`: the container's DNS names on this overlay, once learned (container names across hosts). */
    readonly endpoints: ReadonlyArray<{ readonly id: string; readonly mac: string; readonly ips: readonly string[]; readonly names?: readonly string[] }>;
  }>;
  /** Kernel entries etcd asks for that the VXLAN device lacks (`fdb MAC dst IP`, `neigh IP MAC`). */
  readonly missing: readonly string[];
  /** Kernel entries no peer in etcd asks for. */
  readonly stale: readonly string[];
  /** When the kernel was last changed to match etcd. */
  readonly lastConverged?: string;
  readonly watching: boolean;
}

export interface PeerProgrammerDeps {
  readonly host: HostNet;
  readonly store: KvStore;
  readonly hostId: string;
  readonly log: Logger;
  /**
   * Told after each pass that changed the kernel: how many entries changed, and how long after
   * the first etcd event it answers the kernel was in step (the overlay's convergence lag).
   */
  readonly onProgrammed?: (pass: { readonly overlay: string; readonly changes: number; readonly lagMs?: number }) => void;
}

/**
 * Keeps one overlay's VXLAN device in step with etcd: a static forwarding entry and a neighbour
 * entry for every endpoint on another host, and a flood entry for every other host's VTEP.
 * Events are recorded first and the kernel is then converged to the recorded state, one pass at
 * a time (libnetwork's peerDB lesson), so bursts coalesce and order never matters. If etcd is
 * unreachable the kernel is left as it is (traffic keeps flowing) and the watch is retried.
 */
export class PeerProgrammer {
  private readonly endpoints = new Map<string, PublishedEndpoint>();
  private readonly vteps = new Map<string, string>();
  private readonly seenAt = new Map<string, string>();
  /** Endpoints by DNS name and by address, rebuilt on the first lookup after an endpoint changed. */
  private names?: { readonly byName: Map<string, PublishedEndpoint[]>; readonly byAddress: Map<string, PublishedEndpoint> };
  private lastConverged?: string;
  /** When the oldest etcd event not yet carried into the kernel arrived. */
  private pendingSince?: number;
  private watch?: KvWatch;
  /**
   * The entries this programmer last left the kernel with, so a pass for an event compares with
   * them instead of reading the kernel (three programs per pass, on every host, for every
   * container start and stop). Forgotten when an op fails; the kernel itself is read again on
   * the first pass, on converge() and every RESYNC_MS, so a change made behind tsnet's back is
   * still repaired.
   */
  private applied?: { readonly fdb: ReadonlySet<string>; readonly neigh: ReadonlyMap<string, string> };
  /** The next pass reads the kernel rather than trusting {@link applied}. */
  private readKernel = true;
  private readonly passes = new Coalesced(
    () => this.pass().catch((err: unknown) => this.deps.log.warn({ err, overlay: this.name }, 'peer programming pass failed; will retry')),
    () => this.stopped,
  );
  private stopped = false;
  private resync?: NodeJS.Timeout;
  private readonly reconnect = new Backoff(() => void this.connect(), 250);
  /** Called after each pass that changed the kernel (benchmarks and tests observe it). */
  onConverged?: (changes: number) => void;

  constructor(private readonly deps: PeerProgrammerDeps, readonly name: string, private readonly vxlan: string) {}

  start(): void {
    // Outside the context of the call that started it: it outlives that call and its deadline.
    callDeadline.exit(() => {
      void this.connect();
      this.resync = setInterval(() => void this.converge(), RESYNC_MS);
      this.resync.unref();
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.reconnect.stop();
    clearInterval(this.resync);
    await this.watch?.cancel();
    await this.passes.current;
  }

  /** A full pass now, the kernel read afresh (after a restart, when the device was just created, on resync). */
  converge(): Promise<void> {
    this.readKernel = true;
    return this.passes.run();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const prefix = overlayKeys.network(this.name);
    try {
      const revision = await this.deps.store.revision();
      const entries = await this.deps.store.list(prefix);
      this.endpoints.clear();
      this.vteps.clear();
      for (const e of entries) this.record({ type: 'put', entry: e });
      await this.watch?.cancel();
      this.watch = await this.deps.store.watch(prefix, {
        onEvents: (events) => {
          // A change of DNS names alone leaves the kernel as it is: no pass for it.
          const changed = events.map((e) => this.record(e)).some(Boolean);
          if (!changed) return;
          this.pendingSince ??= performance.now();
          void this.passes.run();
        },
        onResync: (reason) => {
          this.deps.log.warn({ overlay: this.name, reason }, 'overlay watch lost; reloading from etcd');
          this.reconnect.retry();
        },
      }, { fromRevision: revision });
      this.reconnect.succeeded();
      await this.converge();
    } catch (err) {
      this.deps.log.warn({ overlay: this.name, err: errorText(err) }, 'cannot read overlay peers from etcd; keeping the kernel as it is and retrying');
      this.reconnect.retry();
    }
  }

  /**
   * Records one event; says whether it changes what the kernel must hold. This host's own
   * endpoints and VTEP never do: the kernel holds entries for other hosts only.
   */
  private record(event: KvEvent): boolean {
    const key = event.type === 'put' ? event.entry.key : event.key;
    const rest = key.slice(overlayKeys.network(this.name).length);
    const [kind, id] = rest.split('/', 2) as [string, string];
    const remote = (ep: PublishedEndpoint | undefined) => ep !== undefined && ep.host !== this.deps.hostId;
    if (kind === 'ep') {
      this.names = undefined;
      const before = this.endpoints.get(id);
      if (event.type === 'put') {
        const after = JSON.parse(event.entry.value) as PublishedEndpoint;
        this.endpoints.set(id, after);
        const moved = !before || before.host !== after.host || before.mac !== after.mac || before.ips.join() !== after.ips.join();
        return moved && (remote(before) || remote(after));
      }
      this.endpoints.delete(id);
      return remote(before);
    } else if (kind === 'vtep') {
      if (event.type === 'put') {
        this.vteps.set(id, (JSON.parse(event.entry.value) as PublishedVtep).address);
        this.seenAt.set(id, new Date().toISOString());
      } else {
        this.vteps.delete(id);
        this.seenAt.delete(id);
      }
      return id !== this.deps.hostId;
    }
    return false;
  }

  /**
   * The addresses of the endpoints, on any host, whose container has DNS name `name` (lower case)
   * on this overlay; undefined when none has. Answered from what was last read from etcd, so
   * names keep resolving while etcd is unreachable.
   */
  resolve(name: string): { readonly ipv4: readonly string[]; readonly ipv6: readonly string[] } | undefined {
    const holders = this.nameIndex().byName.get(name);
    if (!holders) return undefined;
    const ips = holders.flatMap((ep) => ep.ips.map(addressOf));
    return { ipv4: ips.filter((ip) => !ip.includes(':')), ipv6: ips.filter((ip) => ip.includes(':')) };
  }

  /**
   * The name for a reverse (PTR) lookup of `ip` on this overlay: the first name of the endpoint
   * that holds it, which is its container's name (see dnsNamesOf); undefined when no endpoint
   * with a name holds it.
   */
  reverse(ip: string): string | undefined {
    const key = addressKey(ip);
    return key === undefined ? undefined : this.nameIndex().byAddress.get(key)?.names?.[0];
  }

  /** The endpoints that have DNS names, by name and by address, built once per change. */
  private nameIndex(): NonNullable<PeerProgrammer['names']> {
    if (this.names) return this.names;
    const byName = new Map<string, PublishedEndpoint[]>();
    const byAddress = new Map<string, PublishedEndpoint>();
    for (const ep of this.endpoints.values()) {
      if (!ep.names?.length) continue;
      for (const n of ep.names) byName.set(n, [...(byName.get(n) ?? []), ep]);
      for (const cidr of ep.ips) {
        const key = addressKey(addressOf(cidr));
        if (key !== undefined) byAddress.set(key, ep);
      }
    }
    return (this.names = { byName, byAddress });
  }

  /** Other hosts' VTEPs and endpoints as recorded from etcd (no kernel access: cheap enough for every scrape). */
  counts(): { readonly vteps: number; readonly endpoints: number } {
    const remote = [...this.vteps.keys()].filter((h) => h !== this.deps.hostId).length;
    return { vteps: remote, endpoints: [...this.endpoints.values()].filter((e) => e.host !== this.deps.hostId).length };
  }

  /** The peers as recorded from etcd, and how the kernel differs from them now. */
  async report(): Promise<PeerReport> {
    const diff = await this.diff();
    const vteps = [...this.vteps].map(([host, address]) => ({
      host, address, local: host === this.deps.hostId,
      ...(this.seenAt.has(host) ? { seenAt: this.seenAt.get(host) } : {}),
      endpoints: [...this.endpoints].filter(([, e]) => e.host === host).map(([id, e]) => ({ id, mac: e.mac, ips: e.ips, ...(e.names?.length ? { names: e.names } : {}) })),
    }));
    const describe = (op: HostOp): string =>
      op.op === 'ensure-fdb' || op.op === 'remove-fdb' ? `fdb ${op.mac} dst ${op.dst}`
        : op.op === 'ensure-flood' || op.op === 'remove-flood' ? `flood dst ${op.dst}`
          : op.op === 'ensure-neigh' ? `neigh ${op.ip} lladdr ${op.mac}` : op.op === 'remove-neigh' ? `neigh ${op.ip}` : op.op;
    return {
      overlay: this.name, device: this.vxlan, vteps,
      missing: (diff?.filter((op) => op.op.startsWith('ensure-')) ?? []).map(describe),
      stale: (diff?.filter((op) => op.op.startsWith('remove-')) ?? []).map(describe),
      ...(this.lastConverged ? { lastConverged: this.lastConverged } : {}),
      watching: this.watch !== undefined && !this.stopped,
    };
  }

  private async pass(): Promise<void> {
    const since = this.pendingSince;
    this.pendingSince = undefined;
    const fromKernel = this.readKernel || this.applied === undefined;
    this.readKernel = false;
    const plan = await this.plan(fromKernel ? undefined : this.applied);
    if (!plan) {
      this.applied = undefined;
      return;
    }
    let failed = false;
    for (const op of plan.ops) {
      await this.deps.host.apply(op).catch((err: unknown) => {
        failed = true;
        this.deps.log.warn({ err: errorText(err), op }, 'could not program a peer entry');
      });
    }
    this.applied = failed ? undefined : plan.desired;
    if (plan.ops.length > 0) {
      this.lastConverged = new Date().toISOString();
      this.onConverged?.(plan.ops.length);
      this.deps.onProgrammed?.({ overlay: this.name, changes: plan.ops.length, ...(since === undefined ? {} : { lagMs: performance.now() - since }) });
    }
  }

  /** The ops that make the kernel match the recorded state, compared with the kernel itself; undefined while the device does not exist. */
  private async diff(): Promise<HostOp[] | undefined> {
    return (await this.plan(undefined))?.ops;
  }

  /**
   * What the kernel must hold and the ops that get it there from `current` (the entries last
   * applied), or from what the kernel holds now when `current` is not given; undefined when
   * the kernel is read and the device does not exist.
   */
  private async plan(current: PeerProgrammer['applied']): Promise<{ ops: HostOp[]; desired: NonNullable<PeerProgrammer['applied']> } | undefined> {
    const { host } = this.deps;
    const dev = this.vxlan;
    if (!current) {
      if (!(await host.getLink(dev))) return undefined;
      current = {
        fdb: new Set((await host.listFdb(dev)).map((e) => `${e.mac} ${e.dst}`)),
        neigh: new Map((await host.listNeigh(dev)).map((e) => [e.ip, e.mac])),
      };
    }
    const fdb = new Set<string>();
    const neigh = new Map<string, string>();
    for (const [vtepHost, address] of this.vteps) if (vtepHost !== this.deps.hostId) fdb.add(`${ZERO_MAC} ${address}`);
    for (const ep of this.endpoints.values()) {
      const vtep = this.vteps.get(ep.host);
      if (ep.host === this.deps.hostId || !vtep) continue;
      fdb.add(`${ep.mac} ${vtep}`);
      for (const ip of ep.ips) neigh.set(ip, ep.mac);
    }
    const ops: HostOp[] = [];
    for (const entry of current.fdb) if (!fdb.has(entry)) ops.push(fdbOp('remove', dev, entry));
    for (const [ip, mac] of current.neigh) if (neigh.get(ip) !== mac) ops.push({ op: 'remove-neigh', dev, ip });
    for (const entry of fdb) if (!current.fdb.has(entry)) ops.push(fdbOp('ensure', dev, entry));
    for (const [ip, mac] of neigh) if (current.neigh.get(ip) !== mac) ops.push({ op: 'ensure-neigh', dev, ip, mac });
    return { ops, desired: { fdb, neigh } };
  }
}

function fdbOp(kind: 'ensure' | 'remove', dev: string, entry: string): HostOp {
  const [mac = '', dst = ''] = entry.split(' ');
  if (mac === ZERO_MAC) return kind === 'ensure' ? { op: 'ensure-flood', dev, dst } : { op: 'remove-flood', dev, dst };
  return kind === 'ensure' ? { op: 'ensure-fdb', dev, mac, dst } : { op: 'remove-fdb', dev, mac, dst };
}

/** One key per address whatever its spelling (`fd00::0:2` and `fd00::2` alike); undefined if not an address. */
function addressKey(ip: string): string | undefined {
  const family = isIP(ip);
  return family === 0 ? undefined : `${family}/${ipToBigInt(ip)}`;
}
