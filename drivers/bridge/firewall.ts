import { shortId } from '../../src/core/ids.js';
import type { EndpointRecord, NetworkRecord, PortBinding } from '../../src/core/model.js';
import { addressOf, networkOf, parseCidr } from '../../src/core/net.js';
import type { Family, FirewallRule, TsnetChain } from '../../src/host/firewall.js';
import type { NetworkView } from '../driver.js';
import { bridgeState } from './options.js';

/**
 * Firewall rules of one bridge network, modelled on what Docker's bridge driver installs
 * (Docker's own bridge rules; docs/architecture.md): conntrack return traffic, intra-network traffic (ICC), outbound
 * traffic, published ports, masquerade, and a final DROP so that only published ports are
 * reachable from outside even if the FORWARD policy is ACCEPT. Each family follows its gateway
 * mode (options.ts): `routed` opens published container ports on the container's address and
 * translates nothing; `nat-unprotected` leaves every port reachable. Every rule carries the
 * comment tsnet:<network id> so its owner is visible in `iptables -S`.
 */
export function bridgeFirewallRules(view: NetworkView): FirewallRule[] {
  const { network, endpoints } = view;
  const config = bridgeState.of(network);
  const bridge = config.bridge;
  const rules: FirewallRule[] = [];
  for (const family of familiesOf(network)) {
    const comment = ['-m', 'comment', '--comment', `tsnet:${shortId(network.id)}`];
    const add = (chain: TsnetChain, ...args: string[]) => {
      const target = args.indexOf('-j');
      rules.push({ family, chain, args: [...args.slice(0, target), ...comment, ...args.slice(target)] });
    };
    if (network.internal) {
      add('TSNET-FORWARD', '-i', bridge, '-o', bridge, '-j', 'ACCEPT');
      add('TSNET-FORWARD', '-i', bridge, '-j', 'DROP');
      add('TSNET-FORWARD', '-o', bridge, '-j', 'DROP');
      continue;
    }
    const mode = config.gatewayMode[family];
    add('TSNET-FORWARD', '-o', bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT');
    add('TSNET-FORWARD', '-i', bridge, '-o', bridge, '-j', config.icc ? 'ACCEPT' : 'DROP');
    add('TSNET-FORWARD', '-i', bridge, '-j', 'ACCEPT');
    for (const { binding, ip } of bindingsOf(endpoints, family)) {
      const toContainer = ['-d', hostRoute(ip, family), '-o', bridge, '-p', binding.proto, '-m', binding.proto, '--dport', String(binding.port)];
      // A port published to loopback is for the host alone (Docker 28 closed direct routing to
      // it, moby#45610): only the trusted interfaces may reach it directly.
      if (mode !== 'routed' && binding.hostIp && isLoopback(binding.hostIp)) {
        for (const trusted of config.trustedInterfaces) add('TSNET-FORWARD', '-i', trusted, ...toContainer, '-j', 'ACCEPT');
      } else {
        add('TSNET-FORWARD', ...toContainer, '-j', 'ACCEPT');
      }
      if (mode === 'routed') continue; // the container's own address is the published one
      const dnatMatch = binding.hostIp && !isAnyAddress(binding.hostIp) ? ['-d', hostRoute(binding.hostIp, family)] : [];
      add('TSNET-PORTS', ...dnatMatch, '-p', binding.proto, '-m', binding.proto, '--dport', String(binding.hostPort), '-j', 'DNAT', '--to-destination', dnatTarget(ip, binding.port, family));
      // Hairpin: a container reaching its own published port through a host address.
      add('TSNET-POSTROUTING', '-s', hostRoute(ip, family), '-d', hostRoute(ip, family), '-p', binding.proto, '-m', binding.proto, '--dport', String(binding.port), '-j', 'MASQUERADE');
    }
    add('TSNET-FORWARD', '-o', bridge, '-j', mode === 'nat-unprotected' ? 'ACCEPT' : 'DROP');
    if (config.masquerade && mode !== 'routed') {
      for (const pool of family === 4 ? network.ipv4 : network.ipv6) {
        add('TSNET-POSTROUTING', '-s', networkOf(parseCidr(pool.pool, 'pool')), '!', '-o', bridge, '-j', 'MASQUERADE');
      }
      if (family === 4) add('TSNET-POSTROUTING', '-s', '127.0.0.0/8', '-o', bridge, '-j', 'MASQUERADE');
    }
  }
  return rules;
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
