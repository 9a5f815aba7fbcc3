import type { Driver, NetworkView } from '../../drivers/driver.js';
import type { NetworkType } from '../core/model.js';
import type { Family, FirewallRule } from '../host/firewall.js';

/** Docker's own bridges: tsnet networks are isolated from them as from each other. */
const DOCKER_BRIDGES = ['docker0', 'br-+'];

/**
 * The whole desired ruleset: isolation between every tsnet network (and Docker's bridges),
 * followed by each network's own rules. Pure; the Firewall swaps it in atomically.
 *
 * Isolation uses Docker's two-stage scheme so it stays linear in the number of networks:
 * stage 1 sends traffic leaving a tsnet interface for another interface to stage 2, which drops
 * it if that other interface is a tsnet or Docker bridge; traffic from a Docker bridge goes to
 * stage 3, which drops it if it is headed for a tsnet interface.
 */
export function planRuleset(views: readonly NetworkView[], drivers: ReadonlyMap<NetworkType, Driver>): FirewallRule[] {
  const rules: FirewallRule[] = [];
  const ready = views.filter((v) => v.network.state === 'ready');
  for (const family of [4, 6] as const) {
    const interfaces = ready
      .filter((v) => (family === 4 ? v.network.ipv4.length : v.network.ipv6.length) > 0)
      .flatMap((v) => drivers.get(v.network.type)?.isolationInterfaces(v.network) ?? []);
    if (interfaces.length > 0) rules.push(...isolationRules(family, interfaces));
  }
  for (const view of ready) {
    rules.push(...(drivers.get(view.network.type)?.firewallRules(view) ?? []));
  }
  return rules;
}

function isolationRules(family: Family, interfaces: readonly string[]): FirewallRule[] {
  const rule = (chain: FirewallRule['chain'], ...args: string[]): FirewallRule => ({ family, chain, args });
  return [
    rule('TSNET-FORWARD', '-j', 'TSNET-ISOLATION-1'),
    ...interfaces.map((i) => rule('TSNET-ISOLATION-1', '-i', i, '!', '-o', i, '-j', 'TSNET-ISOLATION-2')),
    // A tsnet bridge the user named like a Docker bridge must not fall into the stage-3 rule.
    ...interfaces.map((i) => rule('TSNET-ISOLATION-1', '-i', i, '-j', 'RETURN')),
    ...DOCKER_BRIDGES.map((d) => rule('TSNET-ISOLATION-1', '-i', d, '-j', 'TSNET-ISOLATION-3')),
    ...[...interfaces, ...DOCKER_BRIDGES].map((i) => rule('TSNET-ISOLATION-2', '-o', i, '-j', 'DROP')),
    ...interfaces.map((i) => rule('TSNET-ISOLATION-3', '-o', i, '-j', 'DROP')),
  ];
}
