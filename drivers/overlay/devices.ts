import { bridgeMac, linkName } from '../../src/core/ids.js';
import { joinSettled, type EndpointRecord } from '../../src/core/model.js';
import type { HostNet, HostOp } from '../../src/host/hostnet.js';
import { vethContainerGone, vethNames, vethOps, vethTeardownOps } from '../veth.js';
import type { JoinedOverlayState, OverlayState } from './options.js';

/**
 * An overlay's per-host data path (see OVERLAY_DATAPATHS in options.ts): its devices and each
 * endpoint's link. Everything that differs between the layouts is here, in one object each.
 */
export interface OverlayLayout {
  /** The bridge the containers are ports of, when the layout has one: the host's firewall then sees overlay frames. */
  readonly bridge?: string;
  /** The network's devices on this host. */
  deviceOps(state: JoinedOverlayState, local: string, mtu: number): HostOp[];
  deviceTeardownOps(): HostOp[];
  deviceLinks(): string[];
  /** The interface Join hands to Docker, which moves it into the container. */
  containerLink(endpoint: EndpointRecord): string;
  /** Every link the endpoint owns on this host. */
  endpointLinks(endpoint: EndpointRecord): string[];
  endpointOps(mtu: number, endpoint: EndpointRecord): HostOp[];
  endpointTeardownOps(endpoint: EndpointRecord): HostOp[];
  /** The link whose presence in the host namespace says an unjoined endpoint is ready. */
  hostLink(endpoint: EndpointRecord): string;
  /** For a joined endpoint: whether the host's kernel shows its container is gone. */
  containerGone(host: Pick<HostNet, 'getLink'>, endpoint: EndpointRecord, now: number): Promise<boolean>;
}

const vxlanOp = (state: JoinedOverlayState, local: string, mtu: number) => ({ op: 'ensure-vxlan', name: state.vxlan, vni: state.vni, local, port: state.port, mtu }) as const;

/**
 * The default: the VXLAN device alone, each container's interface a macvlan link of it in bridge
 * mode (containers on one host reach each other without the tunnel). The host has no interface
 * on the overlay, so its firewall never sees the frames.
 */
function macvlanLayout(state: OverlayState): OverlayLayout {
  const link = (endpoint: EndpointRecord) => linkName('m', endpoint.id);
  return {
    deviceOps: (joined, local, mtu) => [vxlanOp(joined, local, mtu)],
    // Removing the VXLAN device removes the macvlan links on it too.
    deviceTeardownOps: () => [{ op: 'remove-link', name: state.vxlan }],
    deviceLinks: () => [state.vxlan],
    containerLink: link,
    endpointLinks: (endpoint) => [link(endpoint)],
    endpointOps: (mtu, endpoint) => [{ op: 'ensure-macvlan', name: link(endpoint), parent: state.vxlan, mode: 'bridge', mtu, mac: endpoint.mac }],
    // Back in the host namespace (Docker returns it there on Leave) it goes by its name; in a sandbox, with it.
    endpointTeardownOps: (endpoint) => [{ op: 'remove-link', name: link(endpoint) }],
    hostLink: link,
    // The link is in the container while it runs and goes with its namespace; Docker moves it back
    // to the host when the container leaves. Only that return is visible from here.
    containerGone: async (host, endpoint, now) => joinSettled(endpoint, now) && (await host.getLink(link(endpoint))) !== undefined,
  };
}

/** A bridge with the VXLAN device on it, each container on a veth pair. */
function bridgeLayout(state: OverlayState): OverlayLayout {
  return {
    bridge: state.bridge,
    deviceOps: (joined, local, mtu) => [
      { op: 'ensure-bridge', name: state.bridge, mtu, mac: bridgeMac(state.bridge) },
      // Without a local gateway the bridge only switches frames; its own IPv6 link-local chatter
      // would be flooded to every host. Containers' IPv6 is unaffected.
      ...(state.gateway === 'local' ? [] : [{ op: 'ensure-sysctl', key: `net/ipv6/conf/${state.bridge}/disable_ipv6`, value: '1' } as const]),
      { op: 'ensure-up', dev: state.bridge },
      { ...vxlanOp(joined, local, mtu), master: state.bridge },
    ],
    deviceTeardownOps: () => [{ op: 'remove-link', name: state.vxlan }, { op: 'remove-link', name: state.bridge }],
    deviceLinks: () => [state.bridge, state.vxlan],
    containerLink: (endpoint) => vethNames(endpoint.id).peerIf,
    endpointLinks: (endpoint) => Object.values(vethNames(endpoint.id)),
    endpointOps: (mtu, endpoint) => vethOps(state.bridge, mtu, endpoint),
    endpointTeardownOps: vethTeardownOps,
    hostLink: (endpoint) => vethNames(endpoint.id).hostIf,
    containerGone: vethContainerGone,
  };
}

export function layoutOf(state: OverlayState): OverlayLayout {
  return state.datapath === 'bridge' ? bridgeLayout(state) : macvlanLayout(state);
}
