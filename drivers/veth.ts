import { linkName } from '../src/core/ids.js';
import { joinSettled, type EndpointRecord } from '../src/core/model.js';
import type { HostNet, HostOp } from '../src/host/hostnet.js';

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

/**
 * Docker moves a joined container's interface into the sandbox when the container starts (its
 * SetKey, after Join), and back to the host namespace under its own name when the container
 * leaves, even when tsnet was down for the Leave (libnetwork's sbLeave clears the sandbox's
 * interfaces whatever the driver answered). So a joined endpoint's container is gone when its
 * pair is gone (the namespace took it), or when its container end is in the host namespace once
 * the Join has settled: before that, the container may still be starting.
 */
export async function vethContainerGone(host: Pick<HostNet, 'getLink'>, endpoint: EndpointRecord, now = Date.now()): Promise<boolean> {
  const { hostIf, peerIf } = vethNames(endpoint.id);
  if ((await host.getLink(hostIf)) === undefined) return true;
  return joinSettled(endpoint, now) && (await host.getLink(peerIf)) !== undefined;
}
