import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** One protocol call as the API layer saw it (src/api/app.ts reports each). */
export interface CallObservation {
  readonly method: string;
  /** ok, refused, invalid, error, unavailable. */
  readonly outcome: string;
  readonly ms: number;
  /** The refusal's error code (TSNET_…), for a refused call. */
  readonly code?: string;
}

/** One program tsnet ran against the kernel (ip, bridge, iptables-restore…). */
export interface KernelObservation {
  readonly program: string;
  readonly ms: number;
  readonly ok: boolean;
}

/** Counts of what the daemon holds now, read at each scrape. */
export interface Inventory {
  readonly networks: ReadonlyArray<{ readonly type: string; readonly endpoints: number; readonly ports: number }>;
  /** Overlays with devices on this host: other hosts' VTEPs and endpoints as etcd shows them. */
  readonly overlays?: ReadonlyArray<{ readonly name: string; readonly vteps: number; readonly endpoints: number }>;
}

/** One unary etcd call (kvstore/etcd reports each). */
export interface EtcdObservation {
  readonly op: string;
  readonly ms: number;
  readonly ok: boolean;
}

/** One peer programming pass of an overlay that changed the kernel. */
export interface PeerObservation {
  readonly overlay: string;
  readonly changes: number;
  /** From the first etcd event the pass answers to the kernel in step. */
  readonly lagMs?: number;
}

/** One address space's pools at a scrape (AddressSpace.usage()); `error` when the space could not be read. */
export interface SpaceUsage {
  readonly space: string;
  readonly pools: ReadonlyArray<{
    readonly pool: string;
    /** Addresses held in the pool, gateways included, by every host. */
    readonly allocated: number;
    /** Addresses the pool (or its sub-pool) may hand out. */
    readonly capacity: number;
  }>;
  readonly error?: string;
}

/** Something converging the records with the kernel or Docker did (removed a leftover link, released an address…). */
export interface ReconcileObservation {
  /** reconcile (at start-up), docker-sync or ipam-sync. */
  readonly source: string;
  readonly action: string;
  /** How many of the thing at once (pool references are released several at a time); default 1. */
  readonly count?: number;
}

const CALL_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25];

/**
 * tsnet's Prometheus metrics, in a registry of its own (not prom-client's global one, so that
 * two daemons in one test process never mix). Recording is a few map updates per call: the
 * API layer reports after the reply is decided, never in the way of it.
 */
export class TsnetMetrics {
  readonly registry = new Registry();
  private readonly calls = new Counter({ name: 'tsnet_calls_total', help: 'Plugin protocol calls answered, by method and outcome', labelNames: ['method', 'outcome'], registers: [this.registry] });
  private readonly callSeconds = new Histogram({ name: 'tsnet_call_duration_seconds', help: 'Time from request to reply of plugin protocol calls', labelNames: ['method'], buckets: CALL_BUCKETS_S, registers: [this.registry] });
  private readonly refusals = new Counter({ name: 'tsnet_refusals_total', help: 'Calls refused with a tsnet error, by error code', labelNames: ['code'], registers: [this.registry] });
  private readonly kernelSeconds = new Histogram({ name: 'tsnet_kernel_program_duration_seconds', help: 'Time of each kernel program tsnet ran (ip, bridge, iptables-restore…)', labelNames: ['program'], buckets: CALL_BUCKETS_S, registers: [this.registry] });
  private readonly etcdCalls = new Counter({ name: 'tsnet_etcd_requests_total', help: 'etcd requests, by operation and outcome', labelNames: ['op', 'outcome'], registers: [this.registry] });
  private readonly etcdSeconds = new Histogram({ name: 'tsnet_etcd_request_duration_seconds', help: 'Round-trip time of etcd requests', labelNames: ['op'], buckets: CALL_BUCKETS_S, registers: [this.registry] });
  private readonly peerPasses = new Counter({ name: 'tsnet_overlay_kernel_changes_total', help: 'Forwarding and neighbour entries changed to follow etcd, by overlay', labelNames: ['overlay'], registers: [this.registry] });
  private readonly peerLag = new Histogram({ name: 'tsnet_overlay_convergence_seconds', help: 'From an etcd change of an overlay\'s peers to the kernel in step with it', labelNames: ['overlay'], buckets: CALL_BUCKETS_S, registers: [this.registry] });
  private readonly kernelFailures = new Counter({ name: 'tsnet_kernel_program_failures_total', help: 'Kernel programs that exited with an error', labelNames: ['program'], registers: [this.registry] });
  private readonly dnsAnswers = new Counter({ name: 'tsnet_dns_queries_total', help: 'Queries the resolver of container names across hosts answered, by outcome (answered, nodata, refused: not a name of the asker\'s overlays, formerr, notimp, servfail)', labelNames: ['outcome'], registers: [this.registry] });
  private readonly reconcileActions = new Counter({ name: 'tsnet_reconcile_actions_total', help: 'What converging with the kernel (at start-up) and with Docker changed, by source and action', labelNames: ['source', 'action'], registers: [this.registry] });

  /**
   * `pools` is asked once per scrape (the IPAM usage gauges share the answer); it may read etcd,
   * so a scrape costs one list per pool of the global space.
   */
  constructor(inventory: () => Inventory, pools: () => Promise<readonly SpaceUsage[]> = async () => []) {
    // The runtime's own (resident memory, V8 heap by space, GC, event-loop lag, open fds): what an
    // operator alerts on when a daemon grows or stalls, in the names every Node dashboard knows.
    collectDefaultMetrics({ register: this.registry });
    // Read at scrape time from the daemon's records: never out of step with them.
    const byType = (name: string, help: string, count: (n: Inventory['networks'][number]) => number) =>
      new Gauge({
        name, help, labelNames: ['type'], registers: [this.registry],
        collect() {
          this.reset();
          for (const n of inventory().networks) this.inc({ type: n.type }, count(n));
        },
      });
    byType('tsnet_networks', 'Networks tsnet holds, by type', () => 1);
    byType('tsnet_endpoints', 'Endpoints tsnet holds, by network type', (n) => n.endpoints);
    byType('tsnet_published_ports', 'Published port mappings in force, by network type', (n) => n.ports);
    const perOverlay = (name: string, help: string, count: (o: NonNullable<Inventory['overlays']>[number]) => number) =>
      new Gauge({
        name, help, labelNames: ['overlay'], registers: [this.registry],
        collect() {
          this.reset();
          for (const o of inventory().overlays ?? []) this.set({ overlay: o.name }, count(o));
        },
      });
    perOverlay('tsnet_overlay_peers', 'Other hosts\' VTEPs of an overlay this host has devices for', (o) => o.vteps);
    perOverlay('tsnet_overlay_remote_endpoints', 'Endpoints on other hosts of an overlay this host has devices for', (o) => o.endpoints);
    // prom-client collects every metric of a scrape at once: the gauges share one read.
    let reading: Promise<readonly SpaceUsage[]> | undefined;
    const usage = () => (reading ??= pools().finally(() => { reading = undefined; }));
    const perPool = (name: string, help: string, count: (p: SpaceUsage['pools'][number]) => number) =>
      new Gauge({
        name, help, labelNames: ['space', 'pool'], registers: [this.registry],
        async collect() {
          const spaces = await usage();
          this.reset();
          for (const s of spaces) for (const p of s.pools) this.set({ space: s.space, pool: p.pool }, count(p));
        },
      });
    perPool('tsnet_ipam_pool_addresses_allocated', 'Addresses held in an IPAM pool (gateways included, every host\'s), by address space and pool', (p) => p.allocated);
    perPool('tsnet_ipam_pool_addresses_capacity', 'Addresses an IPAM pool (or its sub-pool) may hand out, by address space and pool', (p) => p.capacity);
    new Gauge({
      name: 'tsnet_ipam_space_readable', help: '1 when the address space could be read at this scrape (its pool gauges are then current), 0 when not (etcd unreachable)', labelNames: ['space'], registers: [this.registry],
      async collect() {
        const spaces = await usage();
        this.reset();
        for (const s of spaces) this.set({ space: s.space }, s.error === undefined ? 1 : 0);
      },
    });
    new Gauge({ name: 'tsnet_up', help: '1 while the daemon serves', registers: [this.registry] }).set(1);
  }

  call(c: CallObservation): void {
    this.calls.inc({ method: c.method, outcome: c.outcome });
    this.callSeconds.observe({ method: c.method }, c.ms / 1000);
    if (c.code) this.refusals.inc({ code: c.code });
  }

  kernel(k: KernelObservation): void {
    this.kernelSeconds.observe({ program: k.program }, k.ms / 1000);
    if (!k.ok) this.kernelFailures.inc({ program: k.program });
  }

  etcd(e: EtcdObservation): void {
    this.etcdCalls.inc({ op: e.op, outcome: e.ok ? 'ok' : 'error' });
    this.etcdSeconds.observe({ op: e.op }, e.ms / 1000);
  }

  peers(p: PeerObservation): void {
    this.peerPasses.inc({ overlay: p.overlay }, p.changes);
    if (p.lagMs !== undefined) this.peerLag.observe({ overlay: p.overlay }, p.lagMs / 1000);
  }

  dns(outcome: string): void {
    this.dnsAnswers.inc({ outcome });
  }

  reconciled(r: ReconcileObservation): void {
    this.reconcileActions.inc({ source: r.source, action: r.action }, r.count ?? 1);
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
