import type { Logger } from 'pino';
import type { NameAnswer, NameSource } from '../dns/answer.js';
import type { DockerContainer, DockerContainers } from '../docker/engine.js';
import { Backoff } from '../core/backoff.js';
import { Coalesced } from '../core/coalesce.js';
import { errorText } from '../core/errors.js';
import { dnsNamesOf } from './dns-names.js';

/** The overlay driver as the name service sees it. */
export interface OverlayNaming {
  /** This host's overlay networks: Docker network id → overlay name. */
  overlays(): ReadonlyMap<string, string>;
  /** Publishes a local endpoint's names; false when they could not be (no such endpoint, no lease). */
  nameEndpoint(networkId: string, endpointId: string, names: readonly string[]): Promise<boolean>;
  /** Addresses of the endpoints on any host that answer to `name` on this overlay network. */
  resolve(networkId: string, name: string): { readonly ipv4: readonly string[]; readonly ipv6: readonly string[] } | undefined;
  /** The name of the endpoint on any host that holds address `ip` on this overlay network. */
  reverse(networkId: string, ip: string): string | undefined;
}

export interface ContainerNamesDeps {
  readonly docker: DockerContainers;
  readonly overlay: OverlayNaming;
  readonly log: Logger;
  /** How long after a Docker event the containers are looked at again (events come in bursts). */
  readonly debounceMs?: number;
  /** A look even without events: names lost with a lease, or events missed while the stream was down. */
  readonly rescanMs?: number;
}

/** Docker's events after which a container's names or addresses may have changed. */
const ACTIONS = ['start', 'rename', 'destroy', 'connect', 'disconnect'];
/** How long a query from an unknown address waits for a look at Docker (Docker's DNS waits seconds). */
const LEARN_WAIT_MS = 1_500;
/** An address looks failed to place is not looked for again before this (a few looks per query, then none). */
const RELOOK_AFTER_MS = 5_000;
const MAX_STRANGERS = 1_024;
/**
 * Docker attaches overlay containers to this bridge for outbound traffic (the overlay gives them
 * no gateway), and a container's DNS queries to tsnet's resolver leave through it; the
 * attachment is not in the container's own settings, only in the network's.
 */
const GATEWAY_BRIDGE = 'docker_gwbridge';

interface Attachment {
  readonly networkId: string;
  readonly networkName: string;
  readonly overlayName: string;
}

/**
 * Container names across hosts. Docker's plugin protocol carries no names, so tsnet learns them
 * from the Docker API, on Docker's events and never inside a plugin call, and publishes each
 * local overlay endpoint's names in its etcd record; every host's peer programmer then knows the
 * names of the whole overlay. As the resolver's {@link NameSource} it answers a container with
 * the names of the overlays that container is attached to, and only those (as Docker's DNS does
 * per network): the asking container is found by the address its query comes from.
 */
export class ContainerNames implements NameSource {
  /** Any address of a container on a local overlay (on any of its networks) → container id. */
  private sources = new Map<string, string>();
  /**
   * Addresses of containers on no local overlay (a Docker bridge, say, whose DNS also asks tsnet
   * first): refused at once, never made to wait for a look at Docker.
   */
  private others = new Set<string>();
  /** Container id → its overlay attachments. */
  private attached = new Map<string, readonly Attachment[]>();
  /** Endpoint id → the names last published for it. */
  private readonly published = new Map<string, string>();
  /** Container id → its attachments with aliases, with what they were read for (re-read when that changes). */
  private readonly inspected = new Map<string, { readonly key: string; readonly container: DockerContainer }>();
  private readonly aborter = new AbortController();
  private readonly refollow = new Backoff(() => {
    this.following = this.follow();
  }, 250);
  private timer?: NodeJS.Timeout;
  private rescanTimer?: NodeJS.Timeout;
  private readonly looks = new Coalesced(
    () => this.look().catch((err: unknown) => {
      if (!this.aborter.signal.aborted) this.deps.log.warn({ err: errorText(err) }, 'could not learn container names from Docker; will retry');
    }),
    () => this.aborter.signal.aborted,
  );
  private following?: Promise<void>;
  /** Addresses a look at Docker did not place, with when: not looked for again at once. */
  private readonly strangers = new Map<string, number>();

  constructor(private readonly deps: ContainerNamesDeps) {}

  start(): void {
    this.following = this.follow();
    this.rescanTimer = setInterval(() => this.soon(), this.deps.rescanMs ?? 15_000);
    this.rescanTimer.unref();
    this.soon();
  }

  async stop(): Promise<void> {
    this.aborter.abort();
    this.refollow.stop();
    clearTimeout(this.timer);
    clearInterval(this.rescanTimer);
    await Promise.all([this.following, this.looks.current]);
  }

  /** Looks at Docker's containers again shortly (coalescing bursts). */
  soon(): void {
    if (this.aborter.signal.aborted) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.rescan(), this.deps.debounceMs ?? 20);
    this.timer.unref();
  }

  /**
   * A query from an address no known container has: most often a container that queries as it
   * starts (`docker run … wget http://web/`), before tsnet has looked at it. Docker is asked
   * again first, and the answer waits for that (at most {@link LEARN_WAIT_MS}, well within the
   * seconds Docker's DNS waits for a server); an address that is still unknown then (not a
   * container on an overlay) costs no further look for {@link RELOOK_AFTER_MS}, so a stream of
   * its queries cannot turn into a stream of API calls.
   */
  prepare(source: string): Promise<void> | undefined {
    if (this.placed(source) || this.aborter.signal.aborted) return undefined;
    // No overlay on this host: no name to answer, so nothing is worth a wait.
    if (this.deps.overlay.overlays().size === 0) return undefined;
    const missedAt = this.strangers.get(source);
    if (missedAt !== undefined && performance.now() - missedAt < RELOOK_AFTER_MS) return undefined;
    return this.learn(source);
  }

  /**
   * Looks at Docker until `source` is placed or {@link LEARN_WAIT_MS} is over. A container's
   * process can query before dockerd lists all of its addresses (seen with dockerd 28.5: the
   * first look misses its docker_gwbridge address, one 30 ms later has it), so looks are
   * repeated with a growing pause.
   */
  private async learn(source: string): Promise<void> {
    const deadline = performance.now() + LEARN_WAIT_MS;
    const within = async (work: Promise<void>) => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([work, new Promise<void>((resolve) => { timer = setTimeout(resolve, Math.max(0, deadline - performance.now())); })]);
      clearTimeout(timer);
    };
    for (let pauseMs = 50; ; pauseMs *= 2) {
      await within(this.rescan());
      if (this.placed(source) || this.aborter.signal.aborted) return;
      if (performance.now() + pauseMs >= deadline) break;
      await within(new Promise((resolve) => setTimeout(resolve, pauseMs)));
    }
    this.deps.log.debug({ source }, 'a query from an address no container on this host\'s overlays has: refused');
    // Bounded: a flood of spoofed sources cannot grow it past one entry per recent address.
    if (this.strangers.size >= MAX_STRANGERS) this.strangers.clear();
    this.strangers.set(source, performance.now());
  }

  /** Whether a look has seen `source` on a container: one on an overlay, or one on other networks only. */
  private placed(source: string): boolean {
    return this.sources.has(source) || this.others.has(source);
  }

  lookup(name: string, source: string): NameAnswer {
    const containerId = this.sources.get(source);
    const attachments = containerId ? this.attached.get(containerId) : undefined;
    if (!attachments) return { kind: 'unknown' };
    const ipv4 = new Set<string>();
    const ipv6 = new Set<string>();
    const add = (networkId: string, asked: string) => {
      const found = this.deps.overlay.resolve(networkId, asked);
      found?.ipv4.forEach((ip) => ipv4.add(ip));
      found?.ipv6.forEach((ip) => ipv6.add(ip));
      return found !== undefined;
    };
    let any = false;
    for (const a of attachments) any = add(a.networkId, name) || any;
    if (!any) {
      // `web.blue`: the name on one network, by its Docker name or its overlay name (as Docker's DNS allows).
      for (const a of attachments) {
        for (const suffix of new Set([a.networkName.toLowerCase(), a.overlayName.toLowerCase()])) {
          if (suffix && name.endsWith(`.${suffix}`)) any = add(a.networkId, name.slice(0, -suffix.length - 1)) || any;
        }
      }
    }
    return any ? { kind: 'found', ipv4: [...ipv4], ipv6: [...ipv6] } : { kind: 'unknown' };
  }

  /**
   * A reverse lookup, answered as Docker's DNS answers one for its own containers: `NAME.NETWORK`
   * (the network by its Docker name on this host), for an address on an overlay the asking
   * container is attached to.
   */
  reverse(ip: string, source: string): string | undefined {
    const containerId = this.sources.get(source);
    for (const a of (containerId ? this.attached.get(containerId) : undefined) ?? []) {
      const name = this.deps.overlay.reverse(a.networkId, ip);
      if (name !== undefined) return `${name}.${a.networkName || a.overlayName}`;
    }
    return undefined;
  }

  /** One look at Docker at a time; a request during a look runs one more after it. */
  rescan(): Promise<void> {
    return this.looks.run();
  }

  private async look(): Promise<void> {
    const overlays = this.deps.overlay.overlays();
    const signal = this.aborter.signal;
    const containers = overlays.size === 0 ? [] : await this.deps.docker.containers(signal);
    const gateways = containers.length === 0 ? [] : ((await this.deps.docker.endpoints(GATEWAY_BRIDGE, signal)) ?? []);
    const sources = new Map<string, string>();
    const attached = new Map<string, readonly Attachment[]>();
    const endpoints = new Set<string>();
    const others = new Set<string>();
    for (const listed of containers) {
      const ours = listed.networks.filter((n) => overlays.has(n.networkId) && n.endpointId);
      if (ours.length === 0) {
        for (const n of listed.networks) for (const ip of [n.ipv4, n.ipv6]) if (ip) others.add(ip);
        continue;
      }
      for (const n of listed.networks) {
        if (n.ipv4) sources.set(n.ipv4, listed.id);
        if (n.ipv6) sources.set(n.ipv6, listed.id);
      }
      attached.set(listed.id, ours.map((n) => ({ networkId: n.networkId, networkName: n.networkName, overlayName: overlays.get(n.networkId) ?? '' })));
      const container = await this.withAliases(listed, ours.map((n) => n.endpointId).sort().join());
      if (!container) continue;
      for (const n of container.networks) {
        if (!overlays.has(n.networkId) || !n.endpointId) continue;
        endpoints.add(n.endpointId);
        const names = dnsNamesOf(container.name, n);
        if (this.published.get(n.endpointId) === names.join()) continue;
        if (await this.deps.overlay.nameEndpoint(n.networkId, n.endpointId, names)) {
          this.published.set(n.endpointId, names.join());
          this.deps.log.debug({ containerId: container.id, endpointId: n.endpointId, names }, 'published container names');
        }
      }
    }
    for (const g of gateways) {
      if (!attached.has(g.containerId)) continue;
      for (const cidr of [g.ipv4, g.ipv6]) if (cidr) sources.set(cidr.split('/')[0] ?? cidr, g.containerId);
    }
    this.sources = sources;
    this.others = others;
    this.attached = attached;
    for (const id of this.published.keys()) if (!endpoints.has(id)) this.published.delete(id);
    for (const id of this.inspected.keys()) if (!attached.has(id)) this.inspected.delete(id);
  }

  /** The container with its aliases, read again only when its name or attachments changed. */
  private async withAliases(listed: DockerContainer, endpointsKey: string): Promise<DockerContainer | undefined> {
    const key = `${listed.name} ${endpointsKey}`;
    const cached = this.inspected.get(listed.id);
    if (cached?.key === key) return cached.container;
    const container = await this.deps.docker.container(listed.id, this.aborter.signal);
    if (container) this.inspected.set(listed.id, { key, container });
    return container;
  }

  /** Follows Docker's events for as long as tsnet runs; a stream that ends or fails is opened again with a backoff. */
  private async follow(): Promise<void> {
    const opened = performance.now();
    try {
      await this.deps.docker.events(ACTIONS, () => this.soon(), this.aborter.signal);
    } catch (err) {
      this.deps.log.warn({ err: errorText(err) }, 'cannot follow Docker\'s events; names are refreshed periodically until it works');
    }
    if (this.aborter.signal.aborted) return;
    // Events may have been missed while the stream was down.
    this.soon();
    // A stream that stayed open a while was healthy: the next failure starts the backoff over.
    if (performance.now() - opened > 5_000) this.refollow.succeeded();
    this.refollow.retry();
  }
}
