import type { Logger } from 'pino';
import type { KvStore, LeaseId } from '../../kvstore/kvstore.js';
import { settleConcurrently } from '../../src/core/concurrency.js';
import { Backoff } from '../../src/core/backoff.js';
import { errorText, TsnetError, tsnetError } from '../../src/core/errors.js';
import type { EndpointRecord, NetworkRecord } from '../../src/core/model.js';
import { addressOf } from '../../src/core/net.js';
import { applyAllBestEffort, applyOps } from '../../src/host/apply.js';
import type { HostNet } from '../../src/host/hostnet.js';
import type { NetworkView } from '../driver.js';
import { reconcileEndpoint, removalOps } from '../declared.js';
import { deviceRemoval, endpointObjects, overlayDevices } from './devices.js';
import { VXLAN_OVERHEAD, joinedOverlayState, overlayState } from './options.js';
import { PeerProgrammer, type PeerProgrammerDeps } from './peers.js';
import { OverlayRegistry, type PublishedEndpoint } from './registry.js';

/** This host's side of the underlay: the address VXLAN packets leave from, and its MTU. */
export interface Underlay {
  readonly address: string;
  readonly mtu: number;
}

/** The host's etcd lease, kept by the daemon; endpoints and VTEPs are published under it. */
export interface HostLease {
  current(): LeaseId | undefined;
  /** Called each time the lease is (re)granted: what was published under a lost lease is gone. */
  onRenewed(listener: () => void): void;
}

export interface OverlayHostDeps {
  readonly host: HostNet;
  readonly log: Logger;
  readonly hostId: string;
  readonly store: KvStore;
  readonly lease: HostLease;
  readonly underlay: () => Promise<Underlay>;
  readonly defaultPort: number;
  readonly onProgrammed?: PeerProgrammerDeps['onProgrammed'];
}

/** An overlay with devices on this host. The underlay is looked up once, when they are made. */
interface ActiveOverlay {
  readonly network: NetworkRecord;
  readonly endpoints: Map<string, EndpointRecord>;
  readonly programmer: PeerProgrammer;
  readonly local: string;
  readonly mtu: number;
  /** Endpoints a republish could not publish yet (etcd unreachable), tried again by {@link retry}. */
  readonly unpublished: Set<string>;
  readonly retry: Backoff;
}

/**
 * This host's part in every overlay, with etcd: the overlay's definition and this host's VTEP and
 * endpoints are published there. The bridge and VXLAN device, with a peer programmer that keeps
 * the kernel's forwarding entries in line with etcd, exist while the network exists on this host
 * (made by CreateNetwork, removed by DeleteNetwork): a container that is the host's first on the
 * overlay then starts as fast as any other, and finds every peer already programmed. The VTEP is
 * published only while the host has endpoints, so other hosts flood nothing to a host with none.
 */
export class OverlayHost {
  private readonly registry: OverlayRegistry;
  /** DNS names of local endpoints (endpoint id → names), for re-publishing. */
  private readonly names = new Map<string, readonly string[]>();
  private readonly active = new Map<string, ActiveOverlay>();
  /** Endpoints out of etcd whose links DeleteEndpoint removes after answering Docker. */
  private readonly withdrawn = new Set<string>();

  constructor(private readonly deps: OverlayHostDeps) {
    this.registry = new OverlayRegistry(deps.store, deps.hostId);
    // A new lease means etcd forgot, or will forget, what this host published: publish it all again.
    deps.lease.onRenewed(() => {
      for (const entry of this.active.values()) void this.republish(entry, [...entry.endpoints.values()], 'after a new lease');
    });
  }

  /**
   * Gives a local endpoint its container's DNS names and publishes them; kept here too, so a
   * re-publish (new lease, restart) carries them. False when they are not in etcd now: this host
   * does not have the endpoint (it may have been deleted since Docker was asked), or has no lease
   * (they go with the endpoint when the lease is granted again).
   */
  async nameEndpoint(networkId: string, endpointId: string, names: readonly string[]): Promise<boolean> {
    const entry = this.active.get(networkId);
    if (!entry?.endpoints.has(endpointId)) return false;
    this.names.set(endpointId, names);
    const lease = this.deps.lease.current();
    if (!lease) return false;
    return this.registry.nameEndpoint(overlayState.of(entry.network).name, endpointId, names, lease);
  }

  programmer(networkId: string): PeerProgrammer | undefined {
    return this.active.get(networkId)?.programmer;
  }

  /** Every overlay with devices on this host, by its name, with its programmer. */
  programmers(): PeerProgrammer[] {
    return [...this.active.values()].map((entry) => entry.programmer);
  }

  /**
   * Registers this host's network under the overlay's definition in etcd and makes its devices;
   * returns what all hosts agreed on. A failure leaves neither the registration nor devices.
   */
  async join(network: NetworkRecord): Promise<{ vni: number; port: number; mtu?: number }> {
    const state = overlayState.of(network);
    effectiveMtu(state.mtu, (await this.deps.underlay()).mtu);
    const subnets = [...network.ipv4, ...network.ipv6].map((p) => p.pool);
    const def = await this.registry.join({ ...state, subnets, internal: network.internal, defaultPort: this.deps.defaultPort }, network.id);
    const learned = { vni: def.vni, port: def.port, mtu: def.mtu };
    try {
      await this.activate({ ...network, driverState: { ...network.driverState, ...learned } });
    } catch (err) {
      await this.deactivate(network.id).catch(() => undefined);
      await this.registry.leave(state.name).catch((e: unknown) => this.deps.log.warn({ err: e, overlay: state.name }, 'could not withdraw from an overlay whose devices failed'));
      throw err;
    }
    return learned;
  }

  async leave(network: NetworkRecord): Promise<void> {
    await this.deactivate(network.id);
    await this.registry.leave(overlayState.of(network).name);
  }

  async addEndpoint(network: NetworkRecord, endpoint: EndpointRecord): Promise<void> {
    // Made by CreateNetwork; activate() again only repairs an overlay whose devices failed at start-up.
    const entry = await this.activate(network);
    const objects = endpointObjects(network, endpoint, entry.mtu);
    await applyOps(this.deps.host, objects.ops, this.deps.log);
    try {
      await this.publish(network, endpoint, entry.local);
    } catch (err) {
      await applyAllBestEffort(this.deps.host, removalOps(objects), this.deps.log).catch(() => undefined);
      throw err;
    }
    entry.endpoints.set(endpoint.id, endpoint);
  }

  /**
   * Takes a local endpoint out of etcd: other hosts forget it and its address may be claimed
   * elsewhere. With its last endpoint the host withdraws its VTEP too, so other hosts stop
   * flooding to it; the devices stay for the next container.
   */
  async withdrawEndpoint(network: NetworkRecord, endpoint: EndpointRecord): Promise<void> {
    const state = overlayState.of(network);
    const entry = this.active.get(network.id);
    const others = [...(entry?.endpoints.keys() ?? [])].filter((id) => id !== endpoint.id);
    const known = entry?.endpoints.get(endpoint.id);
    // Out of the map first: a republish (new lease, retry) that starts from here on leaves it out,
    // and one already in flight either lands before the removal or fails its claim compare.
    entry?.endpoints.delete(endpoint.id);
    try {
      await this.registry.unpublishEndpoint(state.name, { id: endpoint.id, ips: ipsOf(endpoint) }, entry !== undefined && others.length === 0);
    } catch (err) {
      if (known) entry?.endpoints.set(endpoint.id, known);
      throw err;
    }
    this.names.delete(endpoint.id);
    this.withdrawn.add(endpoint.id);
  }

  /** Withdraws the endpoint (unless withdrawEndpoint already did) and removes its link. */
  async removeEndpoint(network: NetworkRecord, endpoint: EndpointRecord): Promise<void> {
    if (!this.withdrawn.has(endpoint.id)) await this.withdrawEndpoint(network, endpoint);
    await applyAllBestEffort(this.deps.host, removalOps(endpointObjects(network, endpoint)), this.deps.log);
    this.withdrawn.delete(endpoint.id);
  }

  /**
   * At start-up: the devices of every overlay network, its endpoints' links (as a declared
   * type's), and the endpoints published again under this daemon's lease, before the previous
   * daemon's runs out (see HostLiveness.stop). Docker's calls wait for this, so the publishes
   * go out in a few transactions. Each keeps the DNS names etcd has for its endpoint, which the
   * name service learns again from Docker only later.
   */
  async reconcile(view: NetworkView): Promise<void> {
    const entry = await this.activate(view.network);
    for (const endpoint of view.endpoints) {
      entry.endpoints.set(endpoint.id, endpoint);
      await reconcileEndpoint(this.deps.host, this.deps.log, endpoint, endpointObjects(view.network, endpoint, entry.mtu));
    }
    if (view.endpoints.length === 0) return;
    try {
      for (const [id, names] of await this.registry.publishedNames(overlayState.of(view.network).name)) {
        if (entry.endpoints.has(id) && !this.names.has(id)) this.names.set(id, names);
      }
    } catch (err) {
      this.deps.log.warn({ err: errorText(err), overlay: overlayState.of(view.network).name }, 'could not read the names published before the restart; the name service learns them again from Docker');
    }
    await this.republish(entry, view.endpoints, 'at start-up');
  }

  /** The devices and forwarding entries stay: the overlay keeps working while tsnet restarts. */
  async stop(): Promise<void> {
    for (const entry of this.active.values()) entry.retry.stop();
    await Promise.all([...this.active.values()].map((entry) => entry.programmer.stop()));
  }

  /** Brings up the bridge and VXLAN device and the peer watch for a network, once. */
  private async activate(network: NetworkRecord): Promise<ActiveOverlay> {
    const existing = this.active.get(network.id);
    if (existing) return existing;
    const { host, store, hostId, log, onProgrammed } = this.deps;
    const state = joinedOverlayState.of(network);
    const underlay = await this.deps.underlay();
    const mtu = effectiveMtu(state.mtu, underlay.mtu);
    await applyOps(host, overlayDevices(network, { local: underlay.address, mtu }, state).ops, log);
    const programmer = new PeerProgrammer({ host, store, hostId, log, onProgrammed }, state.name, state.vxlan);
    const entry: ActiveOverlay = {
      network, endpoints: new Map<string, EndpointRecord>(), programmer, local: underlay.address, mtu, unpublished: new Set(),
      retry: new Backoff(() => {
        const pending = [...entry.unpublished].flatMap((id) => entry.endpoints.get(id) ?? []);
        entry.unpublished.clear();
        void this.republish(entry, pending, 'on retry');
      }, 1_000),
    };
    this.active.set(network.id, entry);
    programmer.start();
    return entry;
  }

  private async deactivate(networkId: string): Promise<void> {
    const entry = this.active.get(networkId);
    if (!entry) return;
    this.active.delete(networkId);
    entry.retry.stop();
    await entry.programmer.stop();
    await this.registry.unpublishVtep(overlayState.of(entry.network).name).catch((err: unknown) => this.deps.log.warn({ err }, 'could not withdraw the VTEP; its lease will'));
    await applyAllBestEffort(this.deps.host, deviceRemoval(entry.network), this.deps.log);
  }

  private async publish(network: NetworkRecord, endpoint: EndpointRecord, local: string, again = false): Promise<void> {
    const { name } = overlayState.of(network);
    const lease = this.deps.lease.current();
    if (!lease) throw tsnetError('TSNET_OVERLAY_NO_LEASE', 'this host is not registered in etcd yet (etcd unreachable?)', 'check that etcd is running and reachable; tsnet keeps retrying');
    await this.registry.publishEndpoint(name, this.published(endpoint), lease, { vtep: local, again });
  }

  /**
   * Publishes endpoints that were published before: in a few transactions (see
   * OverlayRegistry.republishEndpoints), then any those left one by one, several at a time.
   * Without a lease it does nothing: the lease, once granted, republishes everything. What etcd
   * did not take is tried again with a back-off, so keys still under a previous daemon's lease
   * do not run out with it; an address another endpoint holds is logged, not retried.
   */
  private async republish(entry: ActiveOverlay, endpoints: readonly EndpointRecord[], when: string): Promise<void> {
    const lease = this.deps.lease.current();
    if (!lease || endpoints.length === 0) return;
    const { name } = overlayState.of(entry.network);
    const log = (failed: readonly EndpointRecord[], err: unknown) =>
      this.deps.log.warn({ err: errorText(err), overlay: name, failed: failed.length, of: endpoints.length, firstEndpointId: failed[0]?.id }, `could not re-publish endpoints ${when}`);
    let leftOver: Set<string>;
    try {
      leftOver = new Set((await this.registry.republishEndpoints(name, endpoints.map((e) => this.published(e)), lease, entry.local)).map((e) => e.id));
    } catch (err) {
      // etcd is unreachable: one by one would only fail the same way, each after its timeout.
      log(endpoints, err);
      this.retryLater(entry, endpoints);
      return;
    }
    // Only those still on this host: a batch that lost its race to a withdrawal must not bring the endpoint back.
    const alone = endpoints.filter((e) => leftOver.has(e.id) && entry.endpoints.has(e.id));
    const failures = await settleConcurrently(alone, REPUBLISH_CONCURRENCY, (endpoint) => this.publish(entry.network, endpoint, entry.local, true));
    const [first] = failures;
    if (!first) {
      entry.retry.succeeded();
      return;
    }
    log(failures.map((f) => f.item), first.error);
    this.retryLater(entry, failures.filter((f) => !(f.error instanceof TsnetError && f.error.code === 'TSNET_OVERLAY_ADDR_TAKEN')).map((f) => f.item));
  }

  private retryLater(entry: ActiveOverlay, endpoints: readonly EndpointRecord[]): void {
    if (endpoints.length === 0 || this.active.get(entry.network.id) !== entry) return;
    for (const endpoint of endpoints) entry.unpublished.add(endpoint.id);
    entry.retry.retry();
  }

  /** An endpoint as etcd shows it to other hosts (with this host's id added by the registry). */
  private published(endpoint: EndpointRecord): Omit<PublishedEndpoint, 'host'> {
    const names = this.names.get(endpoint.id);
    return { id: endpoint.id, mac: endpoint.mac, ips: ipsOf(endpoint), ...(names ? { names } : {}) };
  }
}

/** How many endpoint publishes a republish has in flight for the endpoints its transactions left. */
const REPUBLISH_CONCURRENCY = 16;

const ipsOf = (e: EndpointRecord): string[] => [e.address, e.addressV6].filter((a): a is string => Boolean(a)).map(addressOf);

/** Underlay MTU minus the VXLAN overhead, or the user's value when it is smaller. */
export function effectiveMtu(userMtu: number | undefined, underlayMtu: number): number {
  const limit = underlayMtu - VXLAN_OVERHEAD;
  if (userMtu === undefined) return limit;
  if (userMtu > limit) {
    throw tsnetError('TSNET_OVERLAY_MTU', `MTU ${userMtu} does not fit: the underlay MTU is ${underlayMtu} and VXLAN needs ${VXLAN_OVERHEAD} bytes of it`, `use -o com.docker.network.driver.mtu=${limit} or less, or leave it out`);
  }
  return userMtu;
}
