import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { NO_NAMES, countsOf, endpointsMatching, findNetwork, idMatches, portsOf, type DockerNames, type IpamSpaceView, type NetworkView, type PeerView } from './views.js';
import type { DnsFact, MemoryView } from './render.js';
import { missingNodeFlags } from '../core/node-flags.js';
import { trackRequests } from '../api/prompt-close.js';

/** Facts of the running daemon that the status view shows besides its records. */
export interface DaemonFacts {
  readonly version: string;
  readonly pid: number;
  readonly hostId: string;
  readonly startedAt: string;
  readonly pluginSocket: string;
  readonly stateDir: string;
  readonly etcd?: { readonly endpoints: string; readonly leaseHeld: boolean };
  readonly dns?: DnsFact;
  readonly docker?: {
    readonly host: string;
    readonly lastLook?: string;
    readonly reachable?: boolean;
    readonly error?: string;
    /** Records whose creating call may never have been answered, kept while Docker cannot be asked. */
    readonly suspectedOrphans: readonly string[];
    /** Networks Docker has with this driver that tsnet has no record of. */
    readonly lost: readonly string[];
  };
}

/** What the admin interface reads; the daemon provides it from its own state. */
export interface AdminSource {
  /** True once start-up is complete (store open, kernel reconciled). */
  ready(): boolean;
  facts(): DaemonFacts;
  networks(names: DockerNames): NetworkView[];
  /** Every overlay network of this host with its peers as etcd and the kernel show them. */
  peers(names: DockerNames): Promise<PeerView[]>;
  /** The tsnet IPAM's address spaces and pools. */
  ipam(): Promise<IpamSpaceView[]>;
  /** Docker's names, asked of the Docker API now (never from inside a plugin call); empty when Docker cannot say. */
  dockerNames(): Promise<DockerNames>;
}

/**
 * The admin API: read-only JSON views for the `tsnet` CLI, on a socket of its own (never the
 * plugin socket, which Docker may find and which any member of its group may use).
 */
export function buildAdminApp(source: AdminSource, metrics: MetricsText, log: Logger): FastifyInstance {
  const app = buildMetricsApp(source, metrics, log);
  const views = async () => source.networks(await source.dockerNames());

  // Fixed for the life of the process: worked out once, not per request.
  const missingFlags = missingNodeFlags(process.execArgv, process.env.NODE_OPTIONS, process.env);
  app.get('/v1/status', async () => {
    const facts = source.facts();
    // Counts need no names: the status never waits on the Docker API.
    const networks = source.ready() ? source.networks(NO_NAMES) : [];
    const { rss, heapUsed } = process.memoryUsage();
    const memory: MemoryView = { rssBytes: rss, heapUsedBytes: heapUsed, missingNodeFlags: missingFlags };
    return { ...facts, ready: source.ready(), uptimeSeconds: Math.round((Date.now() - Date.parse(facts.startedAt)) / 1000), ...countsOf(networks), memory };
  });

  app.get('/v1/networks', async () => views());

  app.get<{ Params: { ref: string } }>('/v1/networks/:ref', async (request, reply) => {
    const network = findNetwork(await views(), request.params.ref);
    return network ?? reply.code(404).send({ error: `no tsnet network is named or has the id "${request.params.ref.slice(0, 80)}"`, hint: 'see tsnet networks' });
  });

  app.get<{ Querystring: { network?: string } }>('/v1/peers', async (request, reply) => {
    const names = await source.dockerNames();
    const all = await source.peers(names);
    const ref = request.query.network;
    if (ref === undefined) return all;
    const chosen = all.filter((p) => p.name === ref || p.overlay === ref || idMatches(p.network, ref));
    return chosen.length > 0 ? chosen : reply.code(404).send({ error: `no overlay network of this host is named or has the id "${ref.slice(0, 80)}"`, hint: 'see tsnet networks' });
  });

  app.get('/v1/ipam', async () => source.ipam());

  app.get<{ Querystring: { ref?: string } }>('/v1/ports', async (request, reply) => {
    const networks = await views();
    const ref = request.query.ref;
    if (ref !== undefined && endpointsMatching(networks, ref).length === 0) {
      return reply.code(404).send({ error: `no container or endpoint "${ref.slice(0, 80)}" is on a tsnet network`, hint: 'give a container name or id, or an endpoint id (see tsnet network NAME)' });
    }
    return portsOf(networks, ref);
  });

  return app;
}

/** The Prometheus text and its content type (TsnetMetrics provides them). */
export interface MetricsText {
  text(): Promise<string>;
  readonly contentType: string;
}

/**
 * Health, readiness and metrics only: what `--metrics-listen` serves on TCP, where anyone who
 * can reach the port may read it (no network, address or container is named there).
 */
export function buildMetricsApp(source: Pick<AdminSource, 'ready'>, metrics: MetricsText, log: Logger): FastifyInstance {
  // logController: the top-level disableRequestLogging is deprecated and warned about on every start.
  const app: FastifyInstance = Fastify({ loggerInstance: log as FastifyBaseLogger, logController: new LogController({ disableRequestLogging: true }) });
  trackRequests(app);
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_request, reply) => (source.ready() ? { ready: true } : reply.code(503).send({ ready: false, error: 'tsnet is starting: the store is opening or the kernel is being reconciled' })));
  app.get('/metrics', async (_request, reply) => reply.type(metrics.contentType).send(await metrics.text()));
  return app;
}
