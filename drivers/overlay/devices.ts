import { bridgeMac, linkName } from '../../src/core/ids.js';
import { joinSettled, type EndpointRecord, type NetworkRecord } from '../../src/core/model.js';
import type { HostNet, HostOp } from '../../src/host/hostnet.js';
import { linksOf, removalOps, type KernelObjects } from '../declared.js';
import { vethContainerGone, vethNames, vethOps } from '../veth.js';
import { gatewayOps } from './gateway.js';
import { joinedOverlayState, overlayState, type JoinedOverlayState, type OverlayState } from './options.js';

/** Where this host's devices meet the underlay, looked up when they are made. */
export interface DeviceSite {
  /** The underlay address VXLAN packets leave from. */
  readonly local: string;
  readonly mtu: number;
}

/**
 * An overlay's per-host data path (see OVERLAY_DATAPATHS in options.ts), told as the kernel
 * objects of drivers/declared.ts: what removes them, which links tsnet owns and which link says
 * an endpoint is ready all follow from the declaration (see the functions below), so the two
 * layouts say only what they make.
 */
interface OverlayLayout {
  /** The bridge the containers are ports of, when the layout has one: the host's firewall then sees overlay frames. */
  readonly bridge?: string;
  /** The VXLAN device, and the bridge when the layout has one (the local gateway is added by {@link overlayDevices}). */
  devices(state: JoinedOverlayState, site: DeviceSite): HostOp[];
  endpoint(endpoint: EndpointRecord, mtu: number): KernelObjects;
  /** The interface Join hands to Docker, which moves it into the container. */
  containerLink(endpoint: EndpointRecord): string;
  /** For a joined endpoint: whether the host's kernel shows its container is gone. */
  containerGone(host: Pick<HostNet, 'getLink'>, endpoint: EndpointRecord, now: number): Promise<boolean>;
}

const vxlanOp = (state: JoinedOverlayState, { local, mtu }: DeviceSite) => ({ op: 'ensure-vxlan', name: state.vxlan, vni: state.vni, local, port: state.port, mtu }) as const;

/**
 * The default: the VXLAN device alone, each container's interface a macvlan link of it in bridge
 * mode (containers on one host reach each other without the tunnel). The host has no interface
 * on the overlay, so its firewall never sees the frames.
 */
function macvlanLayout(state: OverlayState): OverlayLayout {
  const link = (endpoint: EndpointRecord) => linkName('m', endpoint.id);
  return {
    devices: (joined, site) => [vxlanOp(joined, site)],
    // Back in the host namespace (Docker returns it there on Leave) it goes by its name; in a sandbox, with it.
    endpoint: (endpoint, mtu) => ({ ops: [{ op: 'ensure-macvlan', name: link(endpoint), parent: state.vxlan, mode: 'bridge', mtu, mac: endpoint.mac }] }),
    containerLink: link,
    // The link is in the container while it runs and goes with its namespace; Docker moves it back
    // to the host when the container leaves. Only that return is visible from here.
    containerGone: async (host, endpoint, now) => joinSettled(endpoint, now) && (await host.getLink(link(endpoint))) !== undefined,
  };
}

/** A bridge with the VXLAN device on it, each container on a veth pair. */
function bridgeLayout(state: OverlayState): OverlayLayout {
  return {
    bridge: state.bridge,
    devices: (joined, site) => [
      { op: 'ensure-bridge', name: state.bridge, mtu: site.mtu, mac: bridgeMac(state.bridge) },
      // Without a local gateway the bridge only switches frames; its own IPv6 link-local chatter
      // would be flooded to every host. Containers' IPv6 is unaffected.
      ...(state.gateway === 'local' ? [] : [{ op: 'ensure-sysctl', key: `net/ipv6/conf/${state.bridge}/disable_ipv6`, value: '1' } as const]),
      { op: 'ensure-up', dev: state.bridge },
      { ...vxlanOp(joined, site), master: state.bridge },
    ],
    endpoint: (endpoint, mtu) => ({ ops: vethOps(state.bridge, mtu, endpoint) }),
    containerLink: (endpoint) => vethNames(endpoint.id).peerIf,
    containerGone: vethContainerGone,
  };
}

export function layoutOf(state: OverlayState): OverlayLayout {
  return state.datapath === 'bridge' ? bridgeLayout(state) : macvlanLayout(state);
}

/** The network's objects on this host: the layout's devices, then its local gateway if it has one. */
export function overlayDevices(network: NetworkRecord, site: DeviceSite, state: JoinedOverlayState = joinedOverlayState.of(network)): KernelObjects {
  return { ops: [...layoutOf(state).devices(state, site), ...gatewayOps(network, site.mtu)] };
}

/**
 * Link names depend neither on the underlay nor on the VNI and port (which a network that failed
 * half-way may not have), so removal and ownership are read off a declaration made with any.
 */
const namesOnly = (network: NetworkRecord): KernelObjects => overlayDevices(network, { local: '', mtu: 0 }, { ...overlayState.of(network), vni: 0, port: 0 });

/** What takes the network's devices away (removing the VXLAN device takes the links on it too). */
export const deviceRemoval = (network: NetworkRecord): HostOp[] => removalOps(namesOnly(network));
export const deviceLinks = (network: NetworkRecord): string[] => linksOf(namesOnly(network));

/** An endpoint's objects; its MTU does not matter to removal or ownership. */
export const endpointObjects = (network: NetworkRecord, endpoint: EndpointRecord, mtu = 0): KernelObjects => layoutOf(overlayState.of(network)).endpoint(endpoint, mtu);
