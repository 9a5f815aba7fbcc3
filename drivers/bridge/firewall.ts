import { gatewayFirewallRules } from '../gateway.js';
import type { FirewallRule } from '../../src/host/firewall.js';
import type { NetworkView } from '../driver.js';
import { bridgeState } from './options.js';

/** A bridge network's rules: its bridge is the containers' gateway, under the network's `-o` policy. */
export function bridgeFirewallRules(view: NetworkView): FirewallRule[] {
  const config = bridgeState.of(view.network);
  return gatewayFirewallRules(view, config.bridge, config);
}
