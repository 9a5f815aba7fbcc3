import { callDeadline } from '../core/deadline.js';
import type { Logger } from 'pino';
import { TsnetError, errorText } from '../core/errors.js';
import { isDockerDriverName, shortId } from '../core/ids.js';
import type { EndpointRecord, NetworkRecord } from '../core/model.js';
import type { CnmRepository, RecordRef } from './repository.js';
import type { NetworkService } from './service.js';

/** One Docker network as the convergence needs it. */
export interface DockerNetworkInfo {
  readonly id: string;
  readonly name: string;
  readonly driver: string;
  readonly ipamDriver: string;
  readonly subnets: ReadonlyArray<{ readonly subnet: string; readonly gateway?: string; readonly aux: readonly string[] }>;
}

/** One endpoint Docker shows attached to a container; addresses are CIDR strings or "". */
export interface DockerEndpointInfo {
  readonly endpointId: string;
  readonly ipv4: string;
  readonly ipv6: string;
}

/** What the convergence needs to know of Docker (src/docker/engine.ts provides it). */
export interface DockerView {
  readonly description: string;
  /** Each method ends its request at once when `signal` aborts (the daemon is stopping). */
  networks(signal?: AbortSignal): Promise<readonly DockerNetworkInfo[]>;
  /** Endpoints attached to a container, or undefined when the network is gone. */
  endpoints(networkId: string, signal?: AbortSignal): Promise<readonly DockerEndpointInfo[] | undefined>;
  /** A stable identity of the dockerd behind the API. */
  identity(signal?: AbortSignal): Promise<string>;
}

export interface DockerSyncDeps {
  readonly repo: CnmRepository;
  readonly service: NetworkService;
  readonly docker: DockerView;
  /** The name Docker knows the driver by (the socket's base name), to spot networks tsnet lost. */
  readonly driverName: string;
  readonly log: Logger;
  /** A record Docker lacks is removed once it has been missing this long, in two looks. Default 10 s. */
  readonly graceMs?: number;
  /**
   * An endpoint that was created but never joined is not listed by Docker until its Join, which
   * Docker may retry for 30 s after a plugin restart: it is given this long. Default 60 s.
   */
  readonly unjoinedGraceMs?: number;
  /**
   * Runs after each look at a dockerd verified as ours, with what Docker showed (the IPAM's
   * convergence, src/ipam/ipam-sync.ts); `waiting` > 0 makes the next look come sooner.
   */
  readonly alsoConverge?: (view: { networks: readonly DockerNetworkInfo[]; endpoints: (id: string) => Promise<readonly DockerEndpointInfo[] | undefined> }) => Promise<{ readonly waiting: number }>;
  /** Told of each record the convergence removes or confirms (for the metrics). Must not throw. */
  readonly onAction?: (action: DockerSyncAction) => void;
  /** How often to look when nothing is waiting. Default 30 s. */
  readonly intervalMs?: number;
  readonly now?: () => number;
}

/** A record Docker lacks removed, or a doubtful one (its call never answered) that Docker turned out to have. */
export type DockerSyncAction = 'removed-orphan-network' | 'removed-orphan-endpoint' | 'confirmed-record';

export interface DockerSyncReport {
  readonly at: string;
  readonly reachable: boolean;
  readonly error?: string;
  readonly removedNetworks: readonly string[];
  readonly removedEndpoints: readonly string[];
  /** Doubtful records Docker turned out to know. */
  readonly confirmed: number;
  /** Records Docker lacks that are not old enough to remove yet. */
  readonly waiting: readonly string[];
  /** Doubtful records while Docker cannot be asked: suspected orphans, kept until it can. */
  readonly suspected: readonly string[];
  /** Networks of this driver that Docker has and tsnet does not. */
  readonly lost: readonly string[];
  /**
   * Records Docker lacks that were kept because this dockerd is not verified as the one tsnet
   * serves (it knows none of tsnet's networks and is not the dockerd seen before).
   */
  readonly unverified: readonly string[];
}

/**
 * Converges tsnet's records with Docker's. Docker is the truth about what exists: a network
 * or endpoint Docker does not have was created by a call Docker took as failed, or removed
 * while tsnet was down, and would otherwise stay in the kernel and block the user's retry.
 * It never runs inside a plugin call (dockerd holds its locks then) and never delays
 * start-up; when Docker cannot be reached nothing is deleted and the doubtful records are
 * reported as suspected orphans.
 */
export class DockerSync {
  private readonly graceMs: number;
  private readonly unjoinedGraceMs: number;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly missingSince = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private nextDelay: number | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;
  /**
   * Ends the Docker requests of a look in progress when the daemon stops: dockerd may take long to
   * answer (it waits up to 30 s for a plugin it cannot reach, and tsnet's socket closes first), and
   * a stop must not wait on it. What the look already removed stays removed; the rest waits for
   * the next start.
   */
  private readonly aborter = new AbortController();
  private wasReachable: boolean | undefined;
  last: DockerSyncReport | undefined;

  constructor(private readonly deps: DockerSyncDeps) {
    this.graceMs = deps.graceMs ?? 10_000;
    this.unjoinedGraceMs = deps.unjoinedGraceMs ?? 60_000;
    this.intervalMs = deps.intervalMs ?? 30_000;
    this.now = deps.now ?? Date.now;
  }

  /** Looks now, then on its own schedule until {@link stop}. */
  start(): void {
    this.schedule(0);
  }

  /**
   * Looks again within `delayMs` (after a network is created: seeing it in Docker soon records
   * which dockerd this plugin serves, before tsnet might be stopped and the network removed).
   */
  soon(delayMs: number): void {
    // Called from inside a protocol call: the timer must not carry that call's deadline along.
    callDeadline.exit(() => this.soonOutsideCalls(delayMs));
  }

  private soonOutsideCalls(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.schedule(delayMs);
    } else {
      this.nextDelay = Math.min(this.nextDelay ?? delayMs, delayMs);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.aborter.abort();
    await this.running.catch(() => undefined);
  }

  /** One look at Docker and what follows from it; runs never overlap. */
  runOnce(): Promise<DockerSyncReport> {
    const run = this.running.then(() => this.look(), () => this.look());
    this.running = run.catch(() => undefined);
    return run;
  }

  /** One timer at a time: `timer` is set while waiting, unset while a look runs. */
  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.runOnce().then(
        (report) => this.scheduleNext(report.waiting.length > 0 ? Math.min(this.graceMs, this.intervalMs) : this.intervalMs),
        (err: unknown) => {
          if (this.stopped) return;
          this.deps.log.error({ err }, 'convergence with Docker failed');
          this.scheduleNext(this.intervalMs);
        },
      );
    }, delayMs);
    this.timer.unref();
  }

  private scheduleNext(delayMs: number): void {
    const requested = this.nextDelay;
    this.nextDelay = undefined;
    this.schedule(Math.min(delayMs, requested ?? delayMs));
  }

  private async look(): Promise<DockerSyncReport> {
    const { repo, service, docker, log } = this.deps;
    const signal = this.aborter.signal;
    const at = new Date(this.now()).toISOString();
    let dockerNetworks: Awaited<ReturnType<DockerView['networks']>>;
    try {
      dockerNetworks = await docker.networks(signal);
    } catch (err) {
      if (signal.aborted) throw err;
      const suspected = repo.allUnanswered().filter((u) => service.isDoubtful(u)).map(describeRef);
      const report: DockerSyncReport = { at, reachable: false, error: errorText(err), removedNetworks: [], removedEndpoints: [], confirmed: 0, waiting: [], suspected, lost: [], unverified: [] };
      if (this.wasReachable !== false || suspected.length > 0) log.warn({ docker: docker.description, err: errorText(err), suspected }, 'Docker cannot be asked: nothing is removed; suspected orphans are kept until it can');
      this.wasReachable = false;
      return this.finish(report);
    }
    this.wasReachable = true;
    const inDocker = new Set(dockerNetworks.map((n) => n.id));
    const trusted = await this.verify(inDocker);
    if (trusted) service.seenByDocker(repo.allNetworks().map((n) => n.id).filter((id) => inDocker.has(id)));
    const unverified: string[] = [];
    const removedNetworks: string[] = [];
    const removedEndpoints: string[] = [];
    const waiting: string[] = [];
    let confirmed = 0;
    const seen = new Set<string>();

    for (const network of repo.allNetworks().filter((n) => n.state === 'ready')) {
      const ref = { networkId: network.id };
      if (!inDocker.has(network.id)) {
        // Docker records a network as soon as CreateNetwork returns: one look settles it.
        const verdict = service.isDoubtful(ref) ? 'unanswered' : this.now() - Date.parse(network.createdAt) >= this.graceMs ? 'missing' : 'wait';
        if (verdict === 'wait') waiting.push(describeRef(ref));
        else if (verdict === 'missing' && !trusted) unverified.push(describeRef(ref));
        else if (await service.removeOrphanNetwork(network.id, () => this.stillMissing(network))) {
          removedNetworks.push(network.id);
          this.deps.onAction?.('removed-orphan-network');
          log.warn({ networkId: network.id, why: verdict }, 'removed a network Docker does not have');
        }
        continue;
      }
      if (service.isDoubtful(ref)) {
        await service.confirm(ref);
        confirmed++;
        this.deps.onAction?.('confirmed-record');
      }
      const listed = await docker.endpoints(network.id, signal);
      if (!listed) continue; // removed in Docker since the list: the next look settles it
      const attached = new Set(listed.map((e) => e.endpointId));
      for (const endpoint of repo.endpointsOf(network.id).filter((e) => e.state === 'ready')) {
        const eref = { networkId: network.id, endpointId: endpoint.id };
        if (attached.has(endpoint.id)) {
          if (service.isDoubtful(eref)) {
            await service.confirm(eref);
            confirmed++;
            this.deps.onAction?.('confirmed-record');
          }
          continue;
        }
        // A stale endpoint (left, or its sandbox gone) goes at once; one Docker may still be
        // joining needs two looks a grace apart, longer when it was never joined.
        const grace = endpoint.sandboxKey ? this.graceMs : this.unjoinedGraceMs;
        const verdict = (await service.isStale(eref)) ? 'stale' : this.judgeMissing(`e:${network.id}/${endpoint.id}`, seen, grace, endpoint.createdAt);
        if (verdict === 'wait') waiting.push(describeRef(eref));
        else if (await service.removeOrphanEndpoint(network.id, endpoint.id, () => this.stillUnlisted(endpoint))) {
          removedEndpoints.push(endpoint.id);
          this.deps.onAction?.('removed-orphan-endpoint');
          log.warn({ networkId: network.id, endpointId: endpoint.id, why: verdict }, 'removed an endpoint Docker does not have');
        }
      }
    }
    for (const key of [...this.missingSince.keys()]) if (!seen.has(key)) this.missingSince.delete(key);
    if (trusted && this.deps.alsoConverge) {
      const also = await this.deps.alsoConverge({ networks: dockerNetworks, endpoints: (id) => docker.endpoints(id, signal) });
      for (let i = 0; i < also.waiting; i++) waiting.push('address or pool reference');
    }
    const lost = dockerNetworks.filter((n) => isDockerDriverName(n.driver, this.deps.driverName) && !repo.network(n.id)).map((n) => `${n.name} (${shortId(n.id)})`);
    if (lost.length > 0) log.warn({ lost }, 'Docker has tsnet networks that tsnet has no record of; remove and re-create them');
    if (unverified.length > 0) {
      log.warn({ docker: docker.description, unverified }, 'Docker lacks these tsnet networks, but this dockerd knows none of tsnet\'s networks and is not the one seen before: kept; check --docker-host');
    }
    return this.finish({ at, reachable: true, removedNetworks, removedEndpoints, confirmed, waiting, suspected: [], lost, unverified });
  }

  /**
   * Is this dockerd the one tsnet serves? A --docker-host pointing at another dockerd would
   * make every network look orphaned. It is, when it knows one of tsnet's networks (and its
   * identity is then remembered), or when it is the dockerd remembered from such a look.
   */
  private async verify(inDocker: ReadonlySet<string>): Promise<boolean> {
    const { repo, docker, log } = this.deps;
    const identity = await docker.identity(this.aborter.signal).catch(() => undefined);
    if (this.aborter.signal.aborted) throw new TsnetError('TSNET_ABORTED', 'the look at Docker was abandoned: tsnet is stopping');
    const remembered = await repo.dockerIdentity();
    if (repo.allNetworks().some((n) => n.state === 'ready' && inDocker.has(n.id))) {
      if (identity && identity !== remembered) {
        await repo.saveDockerIdentity(identity);
        log.info({ docker: docker.description, identity }, 'this dockerd is the one tsnet serves');
      }
      return true;
    }
    return identity !== undefined && identity === remembered;
  }

  /**
   * An endpoint Docker lacks that may still be on its way to being listed (Docker lists one only
   * once it is joined) must be missing in two looks at least `grace` apart, and be older than
   * `grace` itself.
   */
  private judgeMissing(key: string, seen: Set<string>, grace: number, createdAt: string): 'wait' | 'missing' {
    seen.add(key);
    const now = this.now();
    const since = this.missingSince.get(key);
    if (since === undefined) {
      this.missingSince.set(key, now);
      return 'wait';
    }
    return now - since >= grace && now - Date.parse(createdAt) >= grace ? 'missing' : 'wait';
  }

  /** Re-checked in the network's queue: a call that created it anew since would show here. */
  private stillMissing(network: NetworkRecord): boolean {
    return this.deps.repo.network(network.id) === network;
  }

  private stillUnlisted(endpoint: EndpointRecord): boolean {
    return this.deps.repo.endpoint(endpoint.networkId, endpoint.id) === endpoint;
  }

  private finish(report: DockerSyncReport): DockerSyncReport {
    this.last = report;
    const changed = report.removedNetworks.length + report.removedEndpoints.length + report.confirmed > 0;
    this.deps.log[changed ? 'info' : 'debug']({ ...report, docker: this.deps.docker.description }, 'converged with Docker');
    return report;
  }
}

function describeRef(ref: RecordRef): string {
  return ref.endpointId ? `endpoint ${shortId(ref.endpointId)} on network ${shortId(ref.networkId)}` : `network ${shortId(ref.networkId)}`;
}

