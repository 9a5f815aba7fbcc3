import type { EndpointRecord, NetworkRecord } from '../../src/core/model.js';
import { applyAllBestEffort, applyOps } from '../../src/host/apply.js';
import type { HostOp, LinkInfo } from '../../src/host/hostnet.js';
import type { Driver, DriverDeps, NetworkView } from '../driver.js';
import { vethContainerGone, vethLinks, vethNames } from '../veth.js';
import { bridgeEndpointOps, bridgeEndpointTeardownOps, bridgeJoinInfo } from './endpoint.js';
import { bridgeFirewallRules } from './firewall.js';
import { bridgeNetworkOps, bridgeTeardownOps, planBridgeNetwork } from './network.js';
import { adoptionRestoreOps } from './adoption.js';
import { bridgeState, bridgeGatewayNeeds } from './options.js';

/**
 * The bridge driver: one Linux bridge per network with the gateway address on it, one veth pair
 * per endpoint, NAT and isolation through the shared firewall ruleset.
 */
export function createBridgeDriver(deps: DriverDeps): Driver {
  const { host, log } = deps;
  return {
    type: 'bridge',
    linksOnlyTeardown: true,

    gatewayNeeds: (request) => bridgeGatewayNeeds(request),

    planNetwork: (network, others) => ({ ...planBridgeNetwork(network, others) }),

    routesSubnets: () => true,

    async createNetwork(network) {
      const config = bridgeState.of(network);
      // A user-named bridge that exists before we touch it is the user's: adopt, never delete,
      // and remember how to put back what tsnet changes on it.
      const existing = config.userNamed ? await host.getLink(config.bridge) : undefined;
      const adopted = existing !== undefined;
      const plan = [...bridgeNetworkOps(network, { ...config, adopted }), ...pinMac(existing)];
      const restoreOps = adopted ? await adoptionRestoreOps(host, config.bridge, config.mtu, plan) : [];
      try {
        await applyOps(host, plan, log);
      } catch (err) {
        if (adopted) await applyAllBestEffort(host, restoreOps, log).catch(() => undefined);
        throw err;
      }
      return { adopted, restoreOps };
    },

    async deleteNetwork(network) {
      await applyAllBestEffort(host, bridgeTeardownOps(bridgeState.of(network)), log);
    },

    async createEndpoint(network, endpoint) {
      await applyOps(host, bridgeEndpointOps(bridgeState.of(network), endpoint), log);
    },

    async deleteEndpoint(_network, endpoint) {
      await applyAllBestEffort(host, bridgeEndpointTeardownOps(endpoint), log);
    },

    async join(network, endpoint) {
      return bridgeJoinInfo(network, endpoint);
    },

    // Docker itself moves the container end back out of the sandbox (or the kernel deletes it
    // with the namespace); the pair is removed in DeleteEndpoint.
    async leave() {},

    async containerGone(_network, endpoint, now) {
      return vethContainerGone(host, endpoint, now);
    },

    firewallRules: (view) => bridgeFirewallRules(view),

    isolationInterfaces: (network) => [bridgeState.of(network).bridge],

    // "0.0.0.0" means every address of both families to Docker, as no host IP does.
    defaultHostIp: (network) => {
      const ip = bridgeState.of(network).hostBindingIp;
      return ip === '0.0.0.0' ? undefined : ip;
    },

    publishesDirectly: (network, family) => bridgeState.of(network).gatewayMode[family] === 'routed',

    ownedLinks(view) {
      return [bridgeState.of(view.network).bridge, ...vethLinks(view.endpoints)];
    },

    async reconcile(view) {
      await reconcileBridge(deps, view.network, view.endpoints);
    },
  };
}

/**
 * An adopted bridge's MAC is pinned to what it is now: otherwise it follows the lowest MAC of
 * its ports and changes as tsnet's veths come and go (to all zeros when the last one leaves).
 */
function pinMac(link: LinkInfo | undefined): HostOp[] {
  return link?.mac && link.mac !== '00:00:00:00:00:00' ? [{ op: 'ensure-mac', dev: link.name, mac: link.mac }] : [];
}

async function reconcileBridge({ host, log }: DriverDeps, network: NetworkRecord, endpoints: readonly EndpointRecord[]): Promise<void> {
  const config = bridgeState.of(network);
  await applyOps(host, bridgeNetworkOps(network, config), log);
  for (const endpoint of endpoints) {
    const { hostIf } = vethNames(endpoint.id);
    if (endpoint.sandboxKey && !(await host.getLink(hostIf))) {
      // The container end lived in a sandbox that is gone (the container stopped while tsnet
      // was down); Docker will call Leave and DeleteEndpoint, nothing to rebuild until then.
      log.info({ endpointId: endpoint.id }, 'joined endpoint lost its veth; waiting for Docker to remove it');
      continue;
    }
    await applyOps(host, bridgeEndpointOps(config, endpoint), log);
  }
}
