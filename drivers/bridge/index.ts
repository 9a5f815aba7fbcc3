import type { Driver, DriverDeps } from '../driver.js';
import { declaredDriver } from '../declared.js';
import { vethContainerGone, vethOps } from '../veth.js';
import { adoptionRestoreOps } from './adoption.js';
import { bridgeJoinInfo } from './endpoint.js';
import { bridgeFirewallRules } from './firewall.js';
import { bridgeNetworkOps, planBridgeNetwork } from './network.js';
import { bridgeGatewayNeeds, bridgeState } from './options.js';

/**
 * The bridge driver: one Linux bridge per network with the gateway address on it, one veth pair
 * per endpoint, NAT and isolation through the shared firewall ruleset.
 */
export function createBridgeDriver(deps: DriverDeps): Driver {
  const { host } = deps;
  return declaredDriver({
    type: 'bridge',
    state: bridgeState,
    gatewayNeeds: (request) => bridgeGatewayNeeds(request),
    plan: planBridgeNetwork,
    routesSubnets: () => true,

    // A user-named bridge that exists before we touch it is the user's: adopt it, never delete
    // it, and remember how to put back what tsnet changes on it. Its MAC is pinned to what it is
    // now: otherwise it follows the lowest MAC of its ports and changes as tsnet's veths come and
    // go (to all zeros when the last one leaves).
    async learn(network, config) {
      const existing = config.userNamed ? await host.getLink(config.bridge) : undefined;
      if (!existing) return { adopted: false };
      const pinnedMac = existing.mac && existing.mac !== '00:00:00:00:00:00' ? existing.mac : undefined;
      const adopted = { ...config, adopted: true, pinnedMac };
      return { adopted: true, pinnedMac, restoreOps: await adoptionRestoreOps(host, config.bridge, config.mtu, bridgeNetworkOps(network, adopted)) };
    },

    network: (network, config) => ({ ops: bridgeNetworkOps(network, config), kept: config.adopted ? [config.bridge] : [], restore: config.restoreOps }),
    endpoint: (_network, config, endpoint) => ({ ops: vethOps(config.bridge, config.mtu, endpoint) }),
    join: bridgeJoinInfo,
    containerGone: async (_network, endpoint, now) => vethContainerGone(host, endpoint, now),

    firewallRules: (view) => bridgeFirewallRules(view),
    isolationInterfaces: (network) => [bridgeState.of(network).bridge],

    // "0.0.0.0" means every address of both families to Docker, as no host IP does.
    defaultHostIp: (network) => {
      const ip = bridgeState.of(network).hostBindingIp;
      return ip === '0.0.0.0' ? undefined : ip;
    },

    publishesDirectly: (network, family) => bridgeState.of(network).gatewayMode[family] === 'routed',
  }, deps);
}
