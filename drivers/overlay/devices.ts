import { bridgeMac } from '../../src/core/ids.js';
import type { HostOp } from '../../src/host/hostnet.js';
import type { JoinedOverlayState, OverlayState } from './options.js';

/** The per-host data path of an overlay: a bridge with the VXLAN device on it. */
export function overlayDeviceOps(state: JoinedOverlayState, local: string, mtu: number): HostOp[] {
  return [
    { op: 'ensure-bridge', name: state.bridge, mtu, mac: bridgeMac(state.bridge) },
    // The bridge only switches frames; its own IPv6 link-local chatter would be flooded to
    // every host. Containers' IPv6 is unaffected.
    { op: 'ensure-sysctl', key: `net/ipv6/conf/${state.bridge}/disable_ipv6`, value: '1' },
    { op: 'ensure-up', dev: state.bridge },
    { op: 'ensure-vxlan', name: state.vxlan, vni: state.vni, local, port: state.port, mtu, master: state.bridge },
  ];
}

export function overlayDeviceTeardownOps(state: OverlayState): HostOp[] {
  return [{ op: 'remove-link', name: state.vxlan }, { op: 'remove-link', name: state.bridge }];
}
