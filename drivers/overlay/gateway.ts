import { bridgeMac } from '../../src/core/ids.js';
import type { EndpointRecord, NetworkRecord } from '../../src/core/model.js';
import type { FirewallRule } from '../../src/host/firewall.js';
import type { HostOp } from '../../src/host/hostnet.js';
import type { GatewayNeeds, GatewayRequest, NetworkView } from '../driver.js';
import { gatewayFirewallRules, gatewayFor, NAT_GATEWAY } from '../gateway.js';
import { DEFAULT_OVERLAY_GATEWAY, OVERLAY_OPTIONS, overlayState } from './options.js';

/**
 * An overlay's local gateway (`-o tsnet.overlay.gateway=local`): the host is the gateway of its
 * own containers on the overlay, at the address Docker's IPAM reserved, which is the same on
 * every host. In the macvlan layout it is a macvlan link of the VXLAN device in the host's
 * namespace (a sibling of the containers' links); in the bridge layout, the bridge itself. The
 * VXLAN device runs in proxy mode, so a container's ARP or neighbour solicitation for the
 * gateway never crosses the tunnel: only the local gateway answers it.
 */

/** The host interface that is the gateway of the overlay's containers here, if it has one. */
export function gatewayInterface(network: NetworkRecord): string | undefined {
  const state = overlayState.of(network);
  if (state.gateway !== 'local' || network.internal) return undefined;
  return state.datapath === 'bridge' ? state.bridge : state.gatewayLink;
}

/** Docker 28+ reserves a gateway address only for an overlay that will use it. */
export function overlayGatewayNeeds(request: GatewayRequest): GatewayNeeds {
  const local = (request.options[OVERLAY_OPTIONS.gateway] ?? DEFAULT_OVERLAY_GATEWAY) === 'local' && !request.internal;
  return { ipv4: local, ipv6: local };
}

/** The gateway's link (macvlan layout), its addresses and the forwarding it needs; none without a local gateway. */
export function gatewayOps(network: NetworkRecord, mtu: number): HostOp[] {
  const iface = gatewayInterface(network);
  if (!iface) return [];
  const state = overlayState.of(network);
  const ops: HostOp[] = [];
  if (iface !== state.bridge) {
    ops.push({ op: 'ensure-macvlan', name: iface, parent: state.vxlan, mode: 'bridge', mtu, mac: bridgeMac(`gateway:${network.id}`) });
  }
  for (const pool of [...network.ipv4, ...network.ipv6]) {
    if (pool.gateway) ops.push({ op: 'ensure-addr', dev: iface, cidr: pool.gateway });
  }
  ops.push({ op: 'ensure-up', dev: iface });
  if (network.ipv4.length > 0) {
    ops.push({ op: 'ensure-sysctl', key: 'net/ipv4/ip_forward', value: '1' });
    // Ports published on 127.0.0.1 are DNATed to a container: routed out of here only with route_localnet (as Docker's bridge).
    ops.push({ op: 'ensure-sysctl', key: `net/ipv4/conf/${iface}/route_localnet`, value: '1' });
  }
  if (network.ipv6.length > 0) ops.push({ op: 'ensure-sysctl', key: 'net/ipv6/conf/all/forwarding', value: '1' });
  return ops;
}

/** Join's gateways: the pool gateway of each of the endpoint's addresses, when the host is the gateway. */
export function joinGateways(network: NetworkRecord, endpoint: EndpointRecord): { gateway?: string; gatewayV6?: string } {
  if (!gatewayInterface(network)) return {};
  return { gateway: gatewayFor(network.ipv4, endpoint.address), gatewayV6: gatewayFor(network.ipv6, endpoint.addressV6) };
}

/** NAT, published ports and isolation as on a tsnet bridge with Docker's defaults, on the gateway interface. */
export function localGatewayRules(view: NetworkView): FirewallRule[] | undefined {
  const iface = gatewayInterface(view.network);
  return iface ? gatewayFirewallRules(view, iface, NAT_GATEWAY) : undefined;
}
