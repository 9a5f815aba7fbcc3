import type { HostOp } from '../../src/host/hostnet.js';
import type { OverlayState } from './options.js';

/** The per-host data path of an overlay: a bridge with the VXLAN device on it. */
export function overlayDeviceOps(state: OverlayState & { vni: number; port: number }, local: string, mtu: number): HostOp[] {
  return [
    { op: 'ensure-bridge', name: state.bridge, mtu },
    { op: 'ensure-up', dev: state.bridge },
    { op: 'ensure-vxlan', name: state.vxlan, vni: state.vni, local, port: state.port, mtu, master: state.bridge },
  ];
}

export function overlayDeviceTeardownOps(state: OverlayState): HostOp[] {
  return [{ op: 'remove-link', name: state.vxlan }, { op: 'remove-link', name: state.bridge }];
}
