import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { lookup } from 'node:dns/promises';
import { basename } from 'node:path';
import { createBridgeDriver } from '../drivers/bridge/index.js';
import { createOverlayDriver, type Underlay } from '../drivers/overlay/index.js';
import { overlayState } from '../drivers/overlay/options.js';
import { createIpvlanDriver } from '../drivers/ipvlan/index.js';
import { createMacvlanDriver } from '../drivers/macvlan/index.js';
import { createNullDriver } from '../drivers/null/index.js';
import type { Driver } from '../drivers/driver.js';
import { openFileKvStore } from '../kvstore/local/index.js';
import { askDockerNames } from './admin/docker-names.js';
import { TsnetMetrics, type SpaceUsage } from './admin/metrics.js';
import { buildAdminApp, buildMetricsApp } from './admin/server.js';
import { networkView, type DockerNames } from './admin/views.js';
import { buildApp } from './api/app.js';
import { registerIpamRoutes } from './api/ipam-routes.js';
import { registerNetworkRoutes } from './api/network-routes.js';
import { registerPluginRoutes } from './api/plugin-routes.js';
import { bindProbe } from './cnm/ports.js';
import { DockerSync, type DockerSyncReport } from './cnm/docker-sync.js';
import { reconcile } from './cnm/reconcile.js';
import { CnmRepository } from './cnm/repository.js';
import { sandboxFileCheck } from './cnm/sandbox-files.js';
import { NetworkService } from './cnm/service.js';
import type { DaemonConfig } from './config.js';
import { dockerEngineFor } from './docker/engine.js';
import { errorText, TsnetError, tsnetError } from './core/errors.js';
import { Lifecycles } from './core/lifecycle.js';
import type { NetworkType } from './core/model.js';
import { IptablesFirewall } from './host/firewall-iptables.js';
import { AddressSpace } from './ipam/address-space.js';
import { HostLiveness } from './ipam/host-liveness.js';
import { IpamSync } from './ipam/ipam-sync.js';
import { GLOBAL_SPACE, IpamService, LOCAL_SPACE } from './ipam/ipam-service.js';
import { Iproute2HostNet } from './host/iproute2.js';
import { BatchingRunner, IpBatch } from './host/ip-batch.js';
import { LauncherRunner } from './host/launcher.js';
import { listenRootOnly, prepareSocketPath, restrictSocket } from './socket.js';
import { version } from './version.js';
import { closePromptly } from './api/prompt-close.js';
import { DnsServer } from './dns/server.js';
import { ContainerNames, type OverlayNaming } from './names/container-names.js';
import type { DnsFact } from './admin/render.js';
import type { DockerContainers, DockerEngine } from './docker/engine.js';
import type { OverlayDriver } from '../drivers/overlay/index.js';

/** How long a view request (tsnet status, a scrape) in flight at shutdown may take to finish. */
const VIEW_GRACE_MS = 2_000;

export interface RunningDaemon {
  readonly log: Logger;
  /** Resolves when start-up (store and reconciliation) is complete. */
  readonly ready: Promise<void>;
  /** Graceful stop: no new calls, in-flight calls finish, socket removed. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The composition root: the only place that constructs concrete backends and drivers. The socket
 * listens first (Docker gives up on a plugin whose socket is late); calls that arrive before the
 * store is open and the kernel reconciled wait for `ready`.
 */
export async function startDaemon(config: DaemonConfig): Promise<RunningDaemon> {
  const log = pino({ level: config.logLevel, base: { service: 'tsnet', pid: process.pid } });
  const execLog = log.child({ component: 'exec' });
  const ipBatch = new IpBatch({ log: execLog });
  const bridgeBatch = new IpBatch({ log: execLog, command: ['bridge'], maxProcesses: 2 });
  let repo: CnmRepository | undefined;
  // The overlay driver is made below; the inventory is read only at scrape time.
  let overlays: () => ReturnType<typeof overlayInventory> = () => [];
  // The address spaces are made below; their usage is read only at scrape time.
  let spaces: () => AddressSpace[] = () => [];
  const metrics = new TsnetMetrics(() => ({ networks: repo ? inventoryOf(repo) : [], overlays: overlays() }), () => poolUsage(spaces()));
  const launcher = new LauncherRunner({ log: execLog });
  const runner = new BatchingRunner(launcher, [ipBatch, bridgeBatch], execLog, (program) => metrics.kernel(program));
  const parts = new Lifecycles(log.child({ component: 'lifecycle' }));
  await parts.start('launcher', { stop: () => launcher.close() });
  await parts.start('ip-batch', { stop: () => Promise.all([ipBatch.close(), bridgeBatch.close()]).then(() => undefined) });
  const host = new Iproute2HostNet({ runner, procSys: config.procSys });
  const firewall = new IptablesFirewall({ runner, log: log.child({ component: 'firewall' }) });

  let service: NetworkService | undefined;
  let ipam: IpamService | undefined;
  let dockerSync: DockerSync | undefined;
  /** The resolver of container names across hosts, for `tsnet status`; undefined while it is off. */
  let dnsFact: DnsFact | undefined;
  let started = false;
  const startedAt = new Date().toISOString();
  const docker = dockerEngineFor(config.dockerHost);
  // etcd is connected lazily: an unreachable etcd must not stop the local half from starting.
  // etcd3 (gRPC, protobuf) is loaded only on hosts that use etcd: on the others it would be
  // resident memory for nothing.
  const etcd = config.etcd ? new (await import('../kvstore/etcd/etcd-kv-store.js')).EtcdKvStore({ ...config.etcd, log: log.child({ component: 'etcd' }), onCall: (call) => metrics.etcd(call) }) : undefined;
  const globalSpace = etcd ? new AddressSpace(GLOBAL_SPACE, true, etcd, config.hostId, log.child({ component: 'ipam', space: GLOBAL_SPACE }), config.handlerTimeoutMs + 5_000) : undefined;
  const liveness = etcd ? new HostLiveness(etcd, config.hostId, log.child({ component: 'liveness' })) : undefined;
  const overlay = createOverlayDriver({
    host, log: log.child({ component: 'overlay' }), hostId: config.hostId, defaultPort: config.vxlanPort, globalScope: config.driverScope === 'global',
    global: etcd && liveness ? { store: etcd, lease: liveness } : undefined,
    underlay: () => findUnderlay(host, config),
    onProgrammed: (pass) => metrics.peers(pass),
  });
  overlays = () => overlayInventory(overlay);
  let localSpace: AddressSpace | undefined;
  spaces = () => [localSpace, globalSpace].filter((s): s is AddressSpace => s !== undefined);
  const drivers = new Map<NetworkType, Driver>([
    ['bridge', createBridgeDriver({ host, log: log.child({ component: 'bridge' }) })],
    ['overlay', overlay],
    ['macvlan', createMacvlanDriver({ host, log: log.child({ component: 'macvlan' }) })],
    ['ipvlan', createIpvlanDriver({ host, log: log.child({ component: 'ipvlan' }) })],
    ['null', createNullDriver({ host, log: log.child({ component: 'null' }) })],
  ]);
  if (etcd) await parts.start('etcd', { stop: () => etcd.close() });
  if (globalSpace) await parts.start('global-ipam', { stop: () => globalSpace.close() });
  for (const driver of drivers.values()) {
    if (driver.stop) await parts.start(`driver:${driver.type}`, { stop: () => driver.stop?.() ?? Promise.resolve() });
  }
  let resolveReady!: () => void;
  let rejectReady!: (err: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => { resolveReady = resolve; rejectReady = reject; });
  ready.catch(() => undefined); // observed by callers; avoid an unhandled rejection here

  const app: FastifyInstance = buildApp({ log, ready, handlerTimeoutMs: config.handlerTimeoutMs, bodyLimit: config.bodyLimit, kernelTiming: config.kernelTiming, killBeforeReply: faultInjection(process.env), onCall: (call) => metrics.call(call) }, (define) => {
    registerPluginRoutes(define);
    registerNetworkRoutes(define, { service: () => required(service), scope: { scope: config.driverScope, connectivityScope: 'global' } });
    registerIpamRoutes(define, () => required(ipam));
  });

  await prepareSocketPath(config.socketPath);
  await app.listen({ path: config.socketPath });
  await restrictSocket(config.socketPath);
  log.info({ socket: config.socketPath, hostId: config.hostId, etcd: etcd?.description ?? 'none' }, 'listening');
  if (process.env.TSNET_TEST_KILL_BEFORE_REPLY) log.warn({ methods: process.env.TSNET_TEST_KILL_BEFORE_REPLY }, 'TEST FAULT INJECTION: this daemon kills itself before replying to these methods');

  const startup = (async () => {
    const opened = await openFileKvStore({ dir: config.stateDir, log: log.child({ component: 'store' }) });
    await parts.start('store', { stop: () => opened.close() });
    const records = (repo = new CnmRepository(opened));
    const local = (localSpace = new AddressSpace(LOCAL_SPACE, false, opened, config.hostId, log.child({ component: 'ipam', space: LOCAL_SPACE }), config.handlerTimeoutMs + 5_000));
    await parts.start('local-ipam', { stop: () => local.close() });
    // Before the calls: an overlay call in flight at shutdown still publishes under the lease.
    if (liveness) await parts.start('host-liveness', liveness);
    const calls = new NetworkService({ repo: records, drivers, firewall, probe: bindProbe, log: log.child({ component: 'cnm' }), answerDeadlineMs: config.handlerTimeoutMs + 5_000, onNetworkCreated: () => dockerSync?.soon(3_000), sandboxExists: sandboxFileCheck(config.dockerNetnsDir) });
    await parts.start('calls', { stop: () => calls.drain() });
    service = calls;
    ipam = new IpamService({ local, global: globalSpace, defaultPools: config.defaultPools });
    await host.withLinkSnapshot(() => reconcile({ repo: records, service: calls, drivers, host, log: log.child({ component: 'reconcile' }), onAction: (action) => metrics.reconciled({ source: 'reconcile', action }) }));
    if (docker) {
      // In the background: start-up never waits for Docker, which may itself be waiting for us.
      const pluginName = basename(config.socketPath, '.sock');
      const ipamSync = new IpamSync({ spaces: globalSpace ? [local, globalSpace] : [local], ipamName: pluginName, log: log.child({ component: 'ipam-sync' }), onAction: (action, count) => metrics.reconciled({ source: 'ipam-sync', action, count }) });
      if (etcd && config.dnsListen !== 'none') startNameService(docker, records);
      dockerSync = await parts.start('docker-sync', new DockerSync({ repo: records, service: calls, docker, driverName: pluginName, log: log.child({ component: 'docker-sync' }), alsoConverge: (view) => ipamSync.converge(view), onAction: (action) => metrics.reconciled({ source: 'docker-sync', action }) }));
    } else {
      log.warn('--docker-host none: networks and endpoints Docker does not have are not removed');
    }
  })();
  startup.then(() => { started = true; resolveReady(); }, rejectReady);

  /**
   * Container names across hosts: learned from Docker, shared in etcd, answered by a resolver on
   * this host. In the background (start-up never waits for it) and optional: a resolver that
   * cannot bind is logged, and everything else keeps working.
   */
  function startNameService(docker: DockerEngine & DockerContainers, records: CnmRepository): void {
    const names = new ContainerNames({ docker, overlay: overlayNaming(overlay, records), log: log.child({ component: 'names' }) });
    const address = config.dnsListen;
    dnsFact = { listen: address, listening: false };
    void (async () => {
      try {
        await parts.start('names', names);
        // On lo, and kept there when tsnet stops: queries to it then fail at once (port
        // unreachable) and Docker's DNS moves on to the next server instead of waiting.
        await host.apply({ op: 'ensure-addr', dev: 'lo', cidr: `${address}/32` });
        await parts.start('dns', new DnsServer({ address, port: 53, names, log: log.child({ component: 'dns' }), onAnswer: (outcome) => metrics.dns(outcome) }));
        dnsFact = { listen: address, listening: true };
        log.info({ dnsListen: address }, 'resolver for container names across hosts listening (dockerd\'s "dns" setting must list it first)');
      } catch (err) {
        dnsFact = { listen: address, listening: false, error: errorText(err) };
        log.error({ err: errorText(err), dnsListen: address }, 'no resolver for container names across hosts; names of containers on other hosts will not resolve');
      }
    })();
  }

  const admin = config.adminSocket === 'none' ? undefined : buildAdminApp({
    ready: () => started,
    facts: () => ({
      version: version(), pid: process.pid, hostId: config.hostId, startedAt, pluginSocket: config.socketPath, stateDir: config.stateDir,
      ...(etcd ? { etcd: { endpoints: etcd.description, leaseHeld: liveness?.current() !== undefined } } : {}),
      ...(dnsFact ? { dns: dnsFact } : {}),
      ...(docker ? { docker: dockerFacts(docker.description, dockerSync?.last) } : {}),
    }),
    networks: (names) => (repo ? adminNetworkViews(repo, drivers, names) : []),
    peers: async (names) => Promise.all((repo?.allNetworks() ?? []).filter((n) => n.type === 'overlay').map(async (n) => {
      const name = names.networks.get(n.id);
      const peers = await overlay.programmer(n.id)?.report();
      return { network: n.id, ...(name ? { name } : {}), overlay: overlayState.of(n).name, ...(peers ? { peers } : {}) };
    })),
    ipam: () => Promise.all(spaces().map(async (space) => {
      try {
        return { space: space.name, shared: space.shared, pools: await space.usage() };
      } catch (err) {
        return { space: space.name, shared: space.shared, pools: [], error: errorText(err) };
      }
    })),
    dockerNames: () => askDockerNames(docker, repo?.allNetworks().map((n) => n.id) ?? []),
  }, metrics, log.child({ component: 'admin' }));
  if (admin) {
    try {
      await listenRootOnly(() => admin.listen({ path: config.adminSocket }), config.adminSocket);
      log.info({ adminSocket: config.adminSocket }, 'admin API listening');
    } catch (err) {
      // The plugin matters more than its views: Docker keeps working without the admin API.
      log.error({ err, adminSocket: config.adminSocket }, 'admin API not available: tsnet status and the other views will not answer');
    }
  }
  const metricsApp = config.metricsListen ? buildMetricsApp({ ready: () => started }, metrics, log.child({ component: 'metrics' })) : undefined;
  if (metricsApp && config.metricsListen) {
    try {
      await metricsApp.listen(config.metricsListen);
      log.info({ metricsListen: config.metricsListen }, 'metrics listening');
    } catch (err) {
      log.error({ err, metricsListen: config.metricsListen }, 'metrics not served on TCP');
    }
  }

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      const started = performance.now();
      log.info('stopping: no new calls, finishing the ones in flight');
      // The views go first: nothing needs them while stopping, and a stop that is cut short
      // (dockerd SIGKILLs a managed plugin 10 s after SIGTERM) then leaves no admin socket behind.
      if (admin) await closePromptly(admin, VIEW_GRACE_MS);
      if (metricsApp) await closePromptly(metricsApp, VIEW_GRACE_MS);
      // A call in flight gets its answer (each has its deadline); then no client can hold the stop up.
      await closePromptly(app, config.handlerTimeoutMs + 1_000);
      await parts.stop();
      log.info({ durationMs: Math.round(performance.now() - started) }, 'stopped; networks and containers keep working');
    })();
    return stopping;
  };
  return { log, ready, stop };
}

/**
 * Where VXLAN packets leave this host: the configured address, or the source of the route
 * towards etcd (the network the hosts share). Its MTU sets the overlay MTU (minus 50).
 */
async function findUnderlay(host: Iproute2HostNet, config: DaemonConfig): Promise<Underlay> {
  if (config.vxlanLocalIp) {
    const owner = await host.ownerOf(config.vxlanLocalIp);
    if (!owner) throw tsnetError('TSNET_UNDERLAY', `--vxlan-local-ip ${config.vxlanLocalIp} is not an address of this host`, 'pass an address the host has, or leave it out');
    return { address: config.vxlanLocalIp, mtu: owner.mtu };
  }
  const endpoint = config.etcd?.endpoints[0];
  if (!endpoint) throw tsnetError('TSNET_UNDERLAY', 'no underlay address: there is no etcd to route towards', 'pass --vxlan-local-ip');
  const hostname = new URL(endpoint).hostname.replace(/^\[|\]$/g, '');
  const { address } = await lookup(hostname).catch((err: unknown) => {
    throw new TsnetError('TSNET_UNDERLAY_DNS', `cannot resolve the etcd host ${hostname} to find the underlay: ${errorText(err)}`, 'fix the name in --etcd-endpoints, or pass --vxlan-local-ip');
  });
  const route = await host.routeTo(address);
  if (route.dev === 'lo') throw tsnetError('TSNET_UNDERLAY', `etcd is on this host (${address}), so the route to it does not show the underlay`, 'pass --vxlan-local-ip with the address other hosts reach this one at');
  return { address: route.source, mtu: route.mtu };
}

/** Every record of the daemon as the admin API shows it, with each type's own device names. */
function adminNetworkViews(repo: CnmRepository, drivers: ReadonlyMap<NetworkType, Driver>, names: DockerNames) {
  // A record the driver cannot read (TSNET_STATE_CORRUPT) still shows, without devices or state.
  const readable = <T>(read: () => T, otherwise: T): T => { try { return read(); } catch { return otherwise; } };
  return repo.allNetworks().map((network) => networkView(network, repo.endpointsOf(network.id), names,
    (n, endpoints) => readable(() => drivers.get(n.type)?.ownedLinks({ network: n, endpoints }) ?? [], []),
    (n) => readable(() => drivers.get(n.type)?.describe?.(n) ?? {}, {})));
}

/** Per network: its type, endpoints and published ports (the metrics' gauges). */
function inventoryOf(repo: CnmRepository) {
  return repo.allNetworks().map((n) => {
    const endpoints = repo.endpointsOf(n.id);
    return { type: n.type, endpoints: endpoints.length, ports: endpoints.reduce((sum, e) => sum + e.ports.length, 0) };
  });
}

/** Per overlay with devices here: other hosts' VTEPs and endpoints (the metrics' gauges). */
function overlayInventory(overlay: { programmers(): ReadonlyArray<{ readonly name: string; counts(): { vteps: number; endpoints: number } }> }) {
  return overlay.programmers().map((p) => ({ name: p.name, ...p.counts() }));
}

/** Each space's pools for the IPAM usage gauges; a space that cannot be read (etcd down) is reported with its error. */
async function poolUsage(spaces: readonly AddressSpace[]): Promise<SpaceUsage[]> {
  return Promise.all(spaces.map(async (space) => {
    try {
      return { space: space.name, pools: (await space.usage()).map((p) => ({ pool: p.pool, allocated: p.allocated, capacity: Number(p.size) })) };
    } catch (err) {
      return { space: space.name, pools: [], error: errorText(err) };
    }
  }));
}

function dockerFacts(host: string, last: DockerSyncReport | undefined) {
  return {
    host,
    ...(last ? { lastLook: last.at, reachable: last.reachable, ...(last.error ? { error: last.error } : {}) } : {}),
    suspectedOrphans: last?.suspected ?? [],
    lost: last?.lost ?? [],
  };
}

/** Test-only fault injection; see AppOptions.killBeforeReply. Logged loudly when set. */
function faultInjection(env: NodeJS.ProcessEnv): ReadonlySet<string> | undefined {
  const methods = env.TSNET_TEST_KILL_BEFORE_REPLY?.split(',').map((m) => m.trim()).filter(Boolean);
  return methods?.length ? new Set(methods) : undefined;
}

function required<T>(value: T | undefined): T {
  // Routes await `ready` before calling this, so a missing value means start-up failed.
  if (!value) throw new Error('tsnet failed to start; see the log');
  return value;
}

/** The overlay driver and the records, as the name service needs them. */
function overlayNaming(overlay: OverlayDriver, records: CnmRepository): OverlayNaming {
  return {
    overlays: () => new Map(records.allNetworks().filter((n) => n.type === 'overlay').map((n) => [n.id, overlayState.of(n).name] as const)),
    nameEndpoint: (networkId, endpointId, names) => overlay.nameEndpoint(networkId, endpointId, names),
    resolve: (networkId, name) => overlay.programmer(networkId)?.resolve(name),
    reverse: (networkId, ip) => overlay.programmer(networkId)?.reverse(ip),
  };
}
