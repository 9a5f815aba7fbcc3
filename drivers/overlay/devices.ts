import { bridgeMac, linkName } from '../../src/core/ids.js';
import type { EndpointRecord } from '../../src/core/model.js';
import type { HostOp } from '../../src/host/hostnet.js';
import { vethLinks, vethNames, vethOps, vethTeardownOps } from '../veth.js';
import type { JoinedOverlayState, OverlayState } from './options.js';

/**
 * The per-host data path of an overlay. `macvlan` layout: the VXLAN device alone, each
 * container's interface a macvlan link on it; `bridge` layout: a bridge with the VXLAN device on
 * it, each container on a veth pair (see OVERLAY_DATAPATHS in options.ts).
 */
export function overlayDeviceOps(state: JoinedOverlayState, local: string, mtu: number): HostOp[] {
  const vxlan = { op: 'ensure-vxlan', name: state.vxlan, vni: state.vni, local, port: state.port, mtu } as const;
  if (state.datapath === 'macvlan') return [vxlan];
  return [
    { op: 'ensure-bridge', name: state.bridge, mtu, mac: bridgeMac(state.bridge) },
    // The bridge only switches frames; its own IPv6 link-local chatter would be flooded to
    // every host. Containers' IPv6 is unaffected.
    { op: 'ensure-sysctl', key: `net/ipv6/conf/${state.bridge}/disable_ipv6`, value: '1' },
    { op: 'ensure-up', dev: state.bridge },
    { ...vxlan, master: state.bridge },
  ];
}

export function overlayDeviceTeardownOps(state: OverlayState): HostOp[] {
  // Removing the VXLAN device removes the macvlan links on it too.
  return [{ op: 'remove-link', name: state.vxlan }, ...(state.datapath === 'bridge' ? [{ op: 'remove-link' as const, name: state.bridge }] : [])];
}

/** The network's own links on this host. */
export function overlayDeviceLinks(state: OverlayState): string[] {
  return state.datapath === 'bridge' ? [state.bridge, state.vxlan] : [state.vxlan];
}

/** The interface Join hands to Docker, which moves it into the container. */
export function containerLink(state: OverlayState, endpoint: EndpointRecord): string {
  return state.datapath === 'bridge' ? vethNames(endpoint.id).peerIf : linkName('m', endpoint.id);
}

/** Links an endpoint owns on this host. */
export function endpointLinks(state: OverlayState, endpoints: readonly EndpointRecord[]): string[] {
  return state.datapath === 'bridge' ? vethLinks(endpoints) : endpoints.map((e) => containerLink(state, e));
}

/**
 * The link a container gets: a macvlan link of the VXLAN device in bridge mode (containers on
 * one host reach each other without the tunnel), or a veth pair on the bridge.
 */
export function endpointOps(state: OverlayState, mtu: number, endpoint: EndpointRecord): HostOp[] {
  if (state.datapath === 'bridge') return vethOps(state.bridge, mtu, endpoint);
  return [{ op: 'ensure-macvlan', name: containerLink(state, endpoint), parent: state.vxlan, mode: 'bridge', mtu, mac: endpoint.mac }];
}

export function endpointTeardownOps(state: OverlayState, endpoint: EndpointRecord): HostOp[] {
  // Wherever Docker has put it: a veth's host end takes its peer along; a macvlan link back in the
  // host namespace (Docker returns it there on Leave) goes by its name, one in a sandbox with it.
  return state.datapath === 'bridge' ? vethTeardownOps(endpoint) : [{ op: 'remove-link', name: containerLink(state, endpoint) }];
}

/** The link whose presence in the host namespace says an unjoined endpoint is ready. */
export function endpointHostLink(state: OverlayState, endpoint: EndpointRecord): string {
  return state.datapath === 'bridge' ? vethNames(endpoint.id).hostIf : containerLink(state, endpoint);
}
