import { tsnetError } from '../../src/core/errors.js';
import { bridgeMac, shortId } from '../../src/core/ids.js';
import type { NetworkRecord } from '../../src/core/model.js';
import type { HostOp } from '../../src/host/hostnet.js';
import { bridgeState, parseBridgeOptions, type BridgeConfig } from './options.js';

/**
 * Validates a new bridge network against the ones that exist (pure). Two bridges on one host
 * must not share a name (subnets are checked by the CNM layer for every routed network).
 */
export function planBridgeNetwork(network: NetworkRecord, others: readonly NetworkRecord[]): BridgeConfig {
  const config = parseBridgeOptions(network.id, network.options, { internal: network.internal, hasIpv4: network.ipv4.length > 0, hasIpv6: network.ipv6.length > 0 });
  for (const other of others.filter((o) => o.type === 'bridge' && o.id !== network.id)) {
    if (bridgeState.of(other).bridge === config.bridge) {
      throw tsnetError('TSNET_BRIDGE_NAME_TAKEN', `bridge name ${config.bridge} is already used by tsnet network ${shortId(other.id)}`, 'choose another com.docker.network.bridge.name');
    }
  }
  return config;
}

/** Kernel plan of a bridge network: the bridge, its gateway addresses, forwarding sysctls. */
export function bridgeNetworkOps(network: NetworkRecord, config: BridgeConfig): HostOp[] {
  // A bridge tsnet makes gets a fixed MAC, so it does not change as ports come and go (Linux
  // gives a bridge the lowest MAC of its ports); the user's own bridge keeps its MAC.
  const ops: HostOp[] = [{ op: 'ensure-bridge', name: config.bridge, mtu: config.mtu, mac: config.adopted ? undefined : bridgeMac(network.id) }];
  if (config.pinnedMac) ops.push({ op: 'ensure-mac', dev: config.bridge, mac: config.pinnedMac });
  // An isolated family has no gateway on the bridge; inhibit_ipv4 leaves IPv4's to the user.
  const addressed = [...(config.gatewayMode[4] === 'isolated' || config.inhibitIpv4 ? [] : network.ipv4), ...(config.gatewayMode[6] === 'isolated' ? [] : network.ipv6)];
  for (const pool of addressed) {
    if (pool.gateway) ops.push({ op: 'ensure-addr', dev: config.bridge, cidr: pool.gateway });
  }
  ops.push({ op: 'ensure-up', dev: config.bridge });
  if (!network.internal && network.ipv4.length > 0) {
    ops.push({ op: 'ensure-sysctl', key: 'net/ipv4/ip_forward', value: '1' });
    // Published ports bound to 127.0.0.1 are DNATed to the container; the kernel only routes
    // such packets out of this bridge if route_localnet is set on it (as Docker does).
    if (config.gatewayMode[4] !== 'routed') ops.push({ op: 'ensure-sysctl', key: `net/ipv4/conf/${config.bridge}/route_localnet`, value: '1' });
  }
  if (!network.internal && network.ipv6.length > 0) {
    ops.push({ op: 'ensure-sysctl', key: 'net/ipv6/conf/all/forwarding', value: '1' });
  }
  return ops;
}
