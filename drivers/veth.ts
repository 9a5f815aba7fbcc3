import { linkName } from '../src/core/ids.js';
import type { EndpointRecord } from '../src/core/model.js';
import type { HostOp } from '../src/host/hostnet.js';

/**
 * The veth pair that connects an endpoint to a bridge, shared by every driver built on a Linux
 * bridge (bridge, overlay): the host end stays on the bridge, the container end is handed to
 * Docker in Join and moved into the sandbox.
 */
export interface VethNames {
  readonly hostIf: string;
  readonly peerIf: string;
}

export function vethNames(endpointId: string): VethNames {
  return { hostIf: linkName('v', endpointId), peerIf: linkName('p', endpointId) };
}

export function vethOps(bridge: string, mtu: number, endpoint: EndpointRecord): HostOp[] {
  const { hostIf, peerIf } = vethNames(endpoint.id);
  return [{ op: 'ensure-veth', host: hostIf, peer: peerIf, master: bridge, mtu, peerMac: endpoint.mac }];
}

export function vethTeardownOps(endpoint: EndpointRecord): HostOp[] {
  // Deleting the host end deletes its peer too, wherever Docker has put it.
  return [{ op: 'remove-link', name: vethNames(endpoint.id).hostIf }];
}
