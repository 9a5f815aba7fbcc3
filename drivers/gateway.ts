import { shortId } from '../src/core/ids.js';
import type { EndpointRecord, NetworkRecord, PortBinding } from '../src/core/model.js';
import { addressOf, cidrContains, networkOf, parseCidr } from '../src/core/net.js';
import type { Family, FirewallRule, TsnetChain } from '../src/host/firewall.js';
import type { NetworkView } from './driver.js';

/**
 * How a network's containers reach beyond it, per address family, with the names and meaning
 * of Docker's own bridge driver (Docker's "Port publishing" documentation, "Gateway modes"):
 * - `nat`: masquerade outbound; published ports DNATed from the host; only published ports
 *   reachable from outside.
 * - `nat-unprotected`: as nat, but every container port is reachable by direct routing.
 * - `routed`: no NAT at all; containers use their own addresses; a published container port is
 *   opened on the container's address (the host port is not used).
 * - `isolated`: only with `--internal`; the bridge gets no address in this family.
 */
export const GATEWAY_MODES = ['nat', 'nat-unprotected', 'routed', 'isolated'] as const;
export type GatewayMode = (typeof GATEWAY_MODES)[number];

/** What a network whose gateway is a host interface lets through it, per Docker's bridge options. */
export interface GatewayPolicy {
  readonly gatewayMode: Readonly<Record<Family, GatewayMode>>;
  /** Containers of the network may reach each other through the host interface. */
  readonly icc: boolean;
  readonly masquerade: boolean;
  /** Host interfaces from which containers are reachable directly, even on ports published to loopback. */
  readonly trustedInterfaces: readonly string[];
}

/** Docker's defaults: NAT both ways, containers reach each other, nothing trusted. */
export const NAT_GATEWAY: GatewayPolicy = { gatewayMode: { 4: 'nat', 6: 'nat' }, icc: true, masquerade: true, trustedInterfaces: [] };

/**
 * Firewall rules of one network whose containers' gateway is the host interface `iface` (a
 * bridge, or an overlay's gateway link), modelled on what Docker's bridge driver installs
 * (docs/architecture.md): conntrack return traffic, intra-network traffic (ICC), outbound
 * traffic, published ports, masquerade, and a final DROP so that only published ports are
 * reachable from outside even if the FORWARD policy is ACCEPT. Each family follows its gateway
 * mode: `routed` opens published container ports on the container's address and translates
 * nothing; `nat-unprotected` leaves every port reachable. Every rule carries the comment
 * tsnet:<network id> so its owner is visible in `iptables -S`.
 */
export function gatewayFirewallRules(view: NetworkView, iface: string, policy: GatewayPolicy): FirewallRule[] {
  const { network, endpoints } = view;
  const rules: FirewallRule[] = [];
  for (const family of familiesOf(network)) {
    const comment = ['-m', 'comment', '--comment', `tsnet:${shortId(network.id)}`];
    const add = (chain: TsnetChain, ...args: string[]) => {
      const target = args.indexOf('-j');
      rules.push({ family, chain, args: [...args.slice(0, target), ...comment, ...args.slice(target)] });
    };
    if (network.internal) {
      add('TSNET-FORWARD', '-i', iface, '-o', iface, '-j', 'ACCEPT');
      add('TSNET-FORWARD', '-i', iface, '-j', 'DROP');
      add('TSNET-FORWARD', '-o', iface, '-j', 'DROP');
      continue;
    }
    const mode = policy.gatewayMode[family];
    add('TSNET-FORWARD', '-o', iface, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT');
    add('TSNET-FORWARD', '-i', iface, '-o', iface, '-j', policy.icc ? 'ACCEPT' : 'DROP');
    add('TSNET-FORWARD', '-i', iface, '-j', 'ACCEPT');
    for (const { binding, ip } of bindingsOf(endpoints, family)) {
      const toContainer = ['-d', hostRoute(ip, family), '-o', iface, '-p', binding.proto, '-m', binding.proto, '--dport', String(binding.port)];
      // A port published to loopback is for the host alone (Docker 28 closed direct routing to
      // it, moby#45610): only the trusted interfaces may reach it directly.
      if (mode !== 'routed' && binding.hostIp && isLoopback(binding.hostIp)) {
        for (const trusted of policy.trustedInterfaces) add('TSNET-FORWARD', '-i', trusted, ...toContainer, '-j', 'ACCEPT');
      } else {
        add('TSNET-FORWARD', ...toContainer, '-j', 'ACCEPT');
      }
      if (mode === 'routed') continue; // the container's own address is the published one
      const dnatMatch = binding.hostIp && !isAnyAddress(binding.hostIp) ? ['-d', hostRoute(binding.hostIp, family)] : [];
      add('TSNET-PORTS', ...dnatMatch, '-p', binding.proto, '-m', binding.proto, '--dport', String(binding.hostPort), '-j', 'DNAT', '--to-destination', dnatTarget(ip, binding.port, family));
      // Hairpin: a container reaching its own published port through a host address.
      add('TSNET-POSTROUTING', '-s', hostRoute(ip, family), '-d', hostRoute(ip, family), '-p', binding.proto, '-m', binding.proto, '--dport', String(binding.port), '-j', 'MASQUERADE');
    }
    add('TSNET-FORWARD', '-o', iface, '-j', mode === 'nat-unprotected' ? 'ACCEPT' : 'DROP');
    if (policy.masquerade && mode !== 'routed') {
      for (const pool of family === 4 ? network.ipv4 : network.ipv6) {
        add('TSNET-POSTROUTING', '-s', networkOf(parseCidr(pool.pool, 'pool')), '!', '-o', iface, '-j', 'MASQUERADE');
      }
      if (family === 4) add('TSNET-POSTROUTING', '-s', '127.0.0.0/8', '-o', iface, '-j', 'MASQUERADE');
    }
  }
  return rules;
}

/** The gateway Join gives an endpoint: the gateway of the pool that holds its address. */
export function gatewayFor(pools: NetworkRecord['ipv4'], address: string | undefined): string | undefined {
  if (!address) return undefined;
  const ip = addressOf(address);
  const pool = pools.find((p) => cidrContains(parseCidr(p.pool, 'pool'), ip)) ?? pools[0];
  return pool?.gateway ? addressOf(pool.gateway) : undefined;
}

function familiesOf(network: NetworkRecord): Family[] {
  const families: Family[] = [];
  if (network.ipv4.length > 0) families.push(4);
  if (network.ipv6.length > 0) families.push(6);
  return families;
}

function bindingsOf(endpoints: readonly EndpointRecord[], family: Family): Array<{ binding: PortBinding; ip: string }> {
  const result: Array<{ binding: PortBinding; ip: string }> = [];
  for (const endpoint of endpoints) {
    const address = family === 4 ? endpoint.address : endpoint.addressV6;
    if (!address) continue;
    for (const binding of endpoint.ports) {
      if (binding.hostIp && familyOfIp(binding.hostIp) !== family) continue;
      result.push({ binding, ip: addressOf(address) });
    }
  }
  return result;
}

function familyOfIp(ip: string): Family {
  return ip.includes(':') ? 6 : 4;
}

function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.');
}

function isAnyAddress(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::';
}

function hostRoute(ip: string, family: Family): string {
  return `${ip}/${family === 4 ? 32 : 128}`;
}

function dnatTarget(ip: string, port: number, family: Family): string {
  return family === 4 ? `${ip}:${port}` : `[${ip}]:${port}`;
}
