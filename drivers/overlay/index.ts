import type { Logger } from 'pino';
import type { KvStore, LeaseId } from '../../kvstore/kvstore.js';
import { tsnetError } from '../../src/core/errors.js';
import { shortId } from '../../src/core/ids.js';
import type { EndpointRecord, NetworkRecord } from '../../src/core/model.js';
import { addressOf } from '../../src/core/net.js';
import { applyAllBestEffort, applyOps } from '../../src/host/apply.js';
import type { FirewallRule } from '../../src/host/firewall.js';
import type { HostNet } from '../../src/host/hostnet.js';
import type { Driver, NetworkView } from '../driver.js';
import { vethContainerGone, vethLinks, vethNames, vethOps, vethTeardownOps } from '../veth.js';
import { overlayDeviceOps, overlayDeviceTeardownOps } from './devices.js';
import { VXLAN_OVERHEAD, joinedOverlayState, overlayState, parseOverlayOptions } from './options.js';
import { PeerProgrammer } from './peers.js';
import { OverlayRegistry } from './registry.js';

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

export interface OverlayDeps {
  readonly host: HostNet;
  readonly log: Logger;
  readonly hostId: string;
  /** Absent without etcd: overlay networks are then refused with a message saying why. */
  readonly global?: { readonly store: KvStore; readonly lease: HostLease };
  readonly underlay: () => Promise<Underlay>;
  readonly defaultPort: number;
  /** True when tsnet reports Scope "global" (swarm): the network id is then the same everywhere. */
  readonly globalScope: boolean;
}

/**
 * The VXLAN overlay driver: one layer-2 network across every host that creates it with the same
 * name. Global state (definition, VNI, VTEPs, endpoints) is in etcd; each host builds its bridge
 * and VXLAN device when its first endpoint arrives and programs peers from etcd.
 */
export function createOverlayDriver(deps: OverlayDeps): Driver & { programmer(networkId: string): PeerProgrammer | undefined } {
  const { host, log } = deps;
  const registry = deps.global ? new OverlayRegistry(deps.global.store, deps.hostId) : undefined;
  /** Networks with devices on this host; the underlay is looked up once, when they are made. */
  const active = new Map<string, { network: NetworkRecord; endpoints: Map<string, EndpointRecord>; programmer: PeerProgrammer; local: string; mtu: number }>();

  const need = (): OverlayRegistry => {
    if (!registry) throw tsnetError('TSNET_OVERLAY_NO_ETCD', 'overlay networks need etcd, and this tsnet daemon runs without it', 'start tsnet daemon with --etcd-endpoints http://HOST:2379 on every host');
    return registry;
  };
  const lease = (): LeaseId => {
    const id = deps.global?.lease.current();
    if (!id) throw tsnetError('TSNET_OVERLAY_NO_LEASE', 'this host is not registered in etcd yet (etcd unreachable?)', 'check that etcd is running and reachable; tsnet keeps retrying');
    return id;
  };
  const ipsOf = (e: EndpointRecord) => [e.address, e.addressV6].filter((a): a is string => Boolean(a)).map(addressOf);

  /** Brings up the bridge and VXLAN device and the peer watch for a network, once. */
  async function activate(network: NetworkRecord): Promise<NonNullable<ReturnType<typeof active.get>>> {
    const existing = active.get(network.id);
    if (existing) return existing;
    const state = joinedOverlayState.of(network);
    const underlay = await deps.underlay();
    const mtu = effectiveMtu(state.mtu, underlay.mtu);
    await applyOps(host, overlayDeviceOps(state, underlay.address, mtu), log);
    need();
    const store = (deps.global as NonNullable<OverlayDeps['global']>).store;
    const programmer = new PeerProgrammer({ host, store, hostId: deps.hostId, log }, state.name, state.vxlan);
    const entry = { network, endpoints: new Map<string, EndpointRecord>(), programmer, local: underlay.address, mtu };
    active.set(network.id, entry);
    programmer.start();
    return entry;
  }

  async function deactivate(networkId: string): Promise<void> {
    const entry = active.get(networkId);
    if (!entry) return;
    active.delete(networkId);
    await entry.programmer.stop();
    const state = overlayState.of(entry.network);
    await registry?.unpublishVtep(state.name).catch((err: unknown) => log.warn({ err }, 'could not withdraw the VTEP; its lease will'));
    await applyAllBestEffort(host, overlayDeviceTeardownOps(state), log);
  }

  async function publish(network: NetworkRecord, endpoint: EndpointRecord, local: string): Promise<void> {
    const state = overlayState.of(network);
    const id = lease();
    await need().publishVtep(state.name, local, id);
    await need().publishEndpoint(state.name, { id: endpoint.id, mac: endpoint.mac, ips: ipsOf(endpoint) }, id);
  }

  // A new lease means etcd forgot what this host published: publish it all again.
  deps.global?.lease.onRenewed(() => {
    for (const entry of active.values()) {
      for (const endpoint of entry.endpoints.values()) {
        publish(entry.network, endpoint, entry.local).catch((err: unknown) => log.warn({ err, endpointId: endpoint.id }, 'could not re-publish endpoint'));
      }
    }
  });

  return {
    type: 'overlay',
    // An overlay is a plain layer-2 segment: Join gives containers no gateway (Docker attaches
    // them to docker_gwbridge for outbound traffic), so Docker 28+ need not reserve one.
    gatewayNeeds: () => ({ ipv4: false, ipv6: false }),
    programmer: (networkId) => active.get(networkId)?.programmer,

    planNetwork(network, others) {
      need();
      const state = parseOverlayOptions(network.id, network.options, deps.globalScope);
      const twin = others.find((o) => o.type === 'overlay' && o.id !== network.id && overlayState.of(o).name === state.name);
      if (twin) throw tsnetError('TSNET_OVERLAY_DUPLICATE', `overlay ${state.name} is already created on this host as network ${shortId(twin.id)}`, 'each host creates a given overlay once');
      if (network.ipv4.length + network.ipv6.length === 0) throw tsnetError('TSNET_OVERLAY_SUBNET', `overlay ${state.name} has no subnet`, 'pass --subnet');
      return { ...state };
    },

    async createNetwork(network) {
      const state = overlayState.of(network);
      const underlay = await deps.underlay();
      effectiveMtu(state.mtu, underlay.mtu);
      const def = await need().join({ ...state, subnets: [...network.ipv4, ...network.ipv6].map((p) => p.pool), internal: network.internal, defaultPort: deps.defaultPort }, network.id);
      return { vni: def.vni, port: def.port, mtu: def.mtu };
    },

    async deleteNetwork(network) {
      await deactivate(network.id);
      await need().leave(overlayState.of(network).name);
    },


    async createEndpoint(network, endpoint) {
      const wasActive = active.has(network.id);
      const entry = await activate(network);
      const state = overlayState.of(network);
      try {
        await applyOps(host, vethOps(state.bridge, entry.mtu, endpoint), log);
        try {
          await publish(network, endpoint, entry.local);
        } catch (err) {
          await applyAllBestEffort(host, vethTeardownOps(endpoint), log).catch(() => undefined);
          throw err;
        }
      } catch (err) {
        if (!wasActive) await deactivate(network.id).catch(() => undefined);
        throw err;
      }
      entry.endpoints.set(endpoint.id, endpoint);
    },

    async deleteEndpoint(network, endpoint) {
      const state = overlayState.of(network);
      await registry?.unpublishEndpoint(state.name, { id: endpoint.id, ips: ipsOf(endpoint) });
      await applyAllBestEffort(host, vethTeardownOps(endpoint), log);
      const entry = active.get(network.id);
      entry?.endpoints.delete(endpoint.id);
      if (entry && entry.endpoints.size === 0) await deactivate(network.id);
    },

    async join(network, endpoint) {
      // No gateway: Docker then attaches the container to docker_gwbridge for outbound traffic
      // and published ports, exactly as with its own overlay driver.
      return { srcName: vethNames(endpoint.id).peerIf, dstPrefix: 'eth', staticRoutes: [], disableGatewayService: network.internal };
    },

    async leave() {},

    async containerGone(_network, endpoint, now) {
      return vethContainerGone(host, endpoint, now);
    },

    firewallRules(view: NetworkView): FirewallRule[] {
      // With br_netfilter loaded (dockerd loads it), bridged frames traverse FORWARD, whose
      // policy dockerd sets to DROP: overlay traffic between local ports and the tunnel must pass.
      const { bridge } = overlayState.of(view.network);
      const comment = ['-m', 'comment', '--comment', `tsnet:${shortId(view.network.id)}`];
      return ([4, 6] as const).map((family) => ({ family, chain: 'TSNET-FORWARD' as const, args: ['-i', bridge, '-o', bridge, ...comment, '-j', 'ACCEPT'] }));
    },

    isolationInterfaces: (network) => [overlayState.of(network).bridge],

    ownedLinks(view) {
      const state = overlayState.of(view.network);
      return [state.bridge, state.vxlan, ...vethLinks(view.endpoints)];
    },

    async stop() {
      // The devices and forwarding entries stay: the overlay keeps working while tsnet restarts.
      await Promise.all([...active.values()].map((entry) => entry.programmer.stop()));
    },

    async reconcile(view) {
      if (view.endpoints.length === 0) return;
      const entry = await activate(view.network);
      for (const endpoint of view.endpoints) {
        entry.endpoints.set(endpoint.id, endpoint);
        if (!endpoint.sandboxKey && !(await host.getLink(vethNames(endpoint.id).hostIf))) {
          await applyOps(host, vethOps(overlayState.of(view.network).bridge, entry.mtu, endpoint), log);
        }
        // etcd may be down now; the lease renewal re-publishes once it is back.
        await publish(view.network, endpoint, entry.local).catch((err: unknown) => log.warn({ err, endpointId: endpoint.id }, 'could not re-publish endpoint at start-up'));
      }
    },
  };
}

/** Underlay MTU minus the VXLAN overhead, or the user's value when it is smaller. */
export function effectiveMtu(userMtu: number | undefined, underlayMtu: number): number {
  const limit = underlayMtu - VXLAN_OVERHEAD;
  if (userMtu === undefined) return limit;
  if (userMtu > limit) {
    throw tsnetError('TSNET_OVERLAY_MTU', `MTU ${userMtu} does not fit: the underlay MTU is ${underlayMtu} and VXLAN needs ${VXLAN_OVERHEAD} bytes of it`, `use -o com.docker.network.driver.mtu=${limit} or less, or leave it out`);
  }
  return userMtu;
}
