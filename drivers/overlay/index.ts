import type { Logger } from 'pino';
import type { KvStore } from '../../kvstore/kvstore.js';
import { tsnetError } from '../../src/core/errors.js';
import { shortId } from '../../src/core/ids.js';
import { applyAllBestEffort } from '../../src/host/apply.js';
import type { FirewallRule } from '../../src/host/firewall.js';
import type { HostNet } from '../../src/host/hostnet.js';
import type { Driver } from '../driver.js';
import { linksOf, removalOps } from '../declared.js';
import { deviceLinks, endpointObjects, layoutOf } from './devices.js';
import { gatewayInterface, joinGateways, localGatewayRules, overlayGatewayNeeds } from './gateway.js';
import { OverlayHost, type HostLease, type Underlay } from './host.js';
import { overlayState, parseOverlayOptions } from './options.js';
import type { PeerProgrammer, PeerProgrammerDeps } from './peers.js';

export { effectiveMtu, type HostLease, type Underlay } from './host.js';

export interface OverlayDeps {
  readonly host: HostNet;
  readonly log: Logger;
  readonly hostId: string;
  /** Absent without etcd: overlay networks are then refused with a message saying why. */
  readonly global?: { readonly store: KvStore; readonly lease: HostLease };
  readonly underlay: () => Promise<Underlay>;
  readonly defaultPort: number;
  /** True when tsnet reports Scope "global" (a cluster store): the network id is then the same everywhere. */
  readonly globalScope: boolean;
  /** Told after each peer programming pass that changed the kernel (metrics). */
  readonly onProgrammed?: PeerProgrammerDeps['onProgrammed'];
}

/**
 * The VXLAN overlay driver: one layer-2 network across every host that creates it with the same
 * name. Global state (definition, VNI, VTEPs, endpoints) is in etcd and this host's devices and
 * peers are kept by {@link OverlayHost}; what is here is the CNM's view of them.
 */
export interface OverlayDriver extends Driver {
  programmer(networkId: string): PeerProgrammer | undefined;
  programmers(): PeerProgrammer[];
  /** Publishes the DNS names of a local endpoint's container (see OverlayHost.nameEndpoint). */
  nameEndpoint(networkId: string, endpointId: string, names: readonly string[]): Promise<boolean>;
}

export function createOverlayDriver(deps: OverlayDeps): OverlayDriver {
  const { host, log } = deps;
  const overlays = deps.global ? new OverlayHost({ ...deps, ...deps.global }) : undefined;
  const need = (): OverlayHost => {
    if (!overlays) throw tsnetError('TSNET_OVERLAY_NO_ETCD', 'overlay networks need etcd, and this tsnet daemon runs without it', 'start tsnet daemon with --etcd-endpoints http://HOST:2379 on every host');
    return overlays;
  };

  return {
    type: 'overlay',
    // Without a local gateway an overlay is a plain layer-2 segment (Docker attaches its
    // containers to docker_gwbridge for outbound traffic), so Docker 28+ need not reserve one.
    gatewayNeeds: (request) => overlayGatewayNeeds(request),
    programmer: (networkId) => overlays?.programmer(networkId),
    programmers: () => overlays?.programmers() ?? [],
    nameEndpoint: async (networkId, endpointId, names) => (overlays ? overlays.nameEndpoint(networkId, endpointId, names) : false),

    planNetwork(network, others) {
      need();
      const state = parseOverlayOptions(network.id, network.options, deps.globalScope);
      const twin = others.find((o) => o.type === 'overlay' && o.id !== network.id && overlayState.of(o).name === state.name);
      if (twin) throw tsnetError('TSNET_OVERLAY_DUPLICATE', `overlay ${state.name} is already created on this host as network ${shortId(twin.id)}`, 'each host creates a given overlay once');
      if (network.ipv4.length + network.ipv6.length === 0) throw tsnetError('TSNET_OVERLAY_SUBNET', `overlay ${state.name} has no subnet`, 'pass --subnet');
      return { ...state };
    },

    // A local gateway routes the overlay's subnets here.
    routesSubnets: (network) => gatewayInterface(network) !== undefined,

    createNetwork: (network) => need().join(network),
    deleteNetwork: (network) => need().leave(network),
    createEndpoint: (network, endpoint) => need().addEndpoint(network, endpoint),

    // The endpoint leaves etcd before Docker is answered, its link after.
    linksOnlyTeardown: true,
    withdrawEndpoint: async (network, endpoint) => overlays?.withdrawEndpoint(network, endpoint),

    async deleteEndpoint(network, endpoint) {
      if (overlays) await overlays.removeEndpoint(network, endpoint);
      else await applyAllBestEffort(host, removalOps(endpointObjects(network, endpoint)), log);
    },

    async join(network, endpoint) {
      // With no gateway Docker attaches the container to docker_gwbridge for outbound traffic
      // and published ports, exactly as with its own overlay driver.
      return { srcName: layoutOf(overlayState.of(network)).containerLink(endpoint), dstPrefix: 'eth', ...joinGateways(network, endpoint), staticRoutes: [], disableGatewayService: network.internal };
    },

    async leave() {},

    containerGone: (network, endpoint, now) => layoutOf(overlayState.of(network)).containerGone(host, endpoint, now),

    firewallRules(view): FirewallRule[] {
      const gatewayRules = localGatewayRules(view);
      if (gatewayRules) return gatewayRules;
      // With br_netfilter loaded (dockerd loads it), bridged frames traverse FORWARD, whose
      // policy dockerd sets to DROP: overlay traffic between local ports and the tunnel must pass.
      // Without a bridge (the macvlan layout) the frames never reach the host's firewall.
      const { bridge } = layoutOf(overlayState.of(view.network));
      if (!bridge) return [];
      const comment = ['-m', 'comment', '--comment', `tsnet:${shortId(view.network.id)}`];
      return ([4, 6] as const).map((family) => ({ family, chain: 'TSNET-FORWARD' as const, args: ['-i', bridge, '-o', bridge, ...comment, '-j', 'ACCEPT'] }));
    },

    // Without a bridge or a gateway the host has no interface on the overlay, so nothing to isolate.
    isolationInterfaces: (network) => {
      const iface = gatewayInterface(network) ?? layoutOf(overlayState.of(network)).bridge;
      return iface ? [iface] : [];
    },

    describe(network) {
      const state = overlayState.of(network);
      const known = { overlay: state.name, datapath: state.datapath, gateway: network.internal ? undefined : state.gateway, vni: state.vni, port: state.port, mtu: state.mtu };
      return Object.fromEntries(Object.entries(known).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
    },

    ownedLinks(view) {
      return [...deviceLinks(view.network), ...view.endpoints.flatMap((e) => linksOf(endpointObjects(view.network, e)))];
    },

    stop: async () => overlays?.stop(),

    reconcile: (view) => need().reconcile(view),
  };
}
