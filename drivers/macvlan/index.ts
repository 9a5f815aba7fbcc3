import { TsnetError } from '../../src/core/errors.js';
import { linkName } from '../../src/core/ids.js';
import type { EndpointRecord, NetworkRecord } from '../../src/core/model.js';
import { addressOf } from '../../src/core/net.js';
import { applyAllBestEffort, applyOps } from '../../src/host/apply.js';
import type { HostOp } from '../../src/host/hostnet.js';
import type { Driver, DriverDeps } from '../driver.js';
import { MACVLAN_OPTIONS, macvlanStateOf, planMacvlan, type MacvlanState } from './options.js';

/**
 * macvlan networks (`-o tsnet.type=macvlan`), with Docker's option names: each container gets a
 * macvlan link of `parent`, its own MAC on the parent's segment, so it sits on that L2 network
 * directly; nothing goes through the host's bridge or firewall. `parent=IFACE.VLAN` makes the
 * 802.1Q sub-interface when it does not exist (and removes it with the network); no parent gives
 * a private link, so the containers reach only each other.
 */
export function createMacvlanDriver({ host, log }: DriverDeps): Driver {
  const endpointLink = (endpoint: EndpointRecord) => linkName('m', endpoint.id);

  /** The parent: tsnet's private link, the VLAN sub-interface it makes, or the user's link as it is. */
  async function parentOps(state: MacvlanState, networkId: string): Promise<{ ops: HostOp[]; created: boolean }> {
    if (state.privateParent) return { ops: [{ op: 'ensure-bridge', name: state.parent, mtu: 1500 }, { op: 'ensure-up', dev: state.parent }], created: true };
    if (await host.getLink(state.parent)) return { ops: [], created: false };
    if (state.vlan && (await host.getLink(state.vlan.base))) {
      return { ops: [{ op: 'ensure-vlan', name: state.parent, parent: state.vlan.base, vlanId: state.vlan.id }, { op: 'ensure-up', dev: state.parent }], created: true };
    }
    const missing = state.vlan ? `${state.vlan.base} (the link of VLAN ${state.vlan.id})` : state.parent;
    throw new TsnetError('TSNET_MACVLAN_PARENT', 'invalid', `network option "${MACVLAN_OPTIONS.parent}": interface ${missing} does not exist on this host`, `give an interface this host has (ip link show), e.g. -o ${MACVLAN_OPTIONS.parent}=eth0; network ${networkId.slice(0, 12)} was not created`);
  }

  return {
    type: 'macvlan',
    // A gateway only when the user gives one (--gateway): the segment's router is not tsnet's.
    gatewayNeeds: () => ({ ipv4: false, ipv6: false }),
    planNetwork: (network, others) => ({ ...planMacvlan(network, others) }),

    async createNetwork(network) {
      const state = macvlanStateOf(network.driverState);
      const { ops, created } = await parentOps(state, network.id);
      await applyOps(host, ops, log);
      return { createdParent: created };
    },

    async deleteNetwork(network) {
      const state = macvlanStateOf(network.driverState);
      if (state.createdParent) await applyAllBestEffort(host, [{ op: 'remove-link', name: state.parent }], log);
    },

    planEndpoint: (_network, endpoint) => ({ driverState: { link: endpointLink(endpoint) } }),

    async createEndpoint(network, endpoint) {
      const state = macvlanStateOf(network.driverState);
      await applyOps(host, [{ op: 'ensure-macvlan', name: endpointLink(endpoint), parent: state.parent, mode: state.mode, mac: endpoint.mac }], log);
    },

    async deleteEndpoint(_network, endpoint) {
      await applyAllBestEffort(host, [{ op: 'remove-link', name: endpointLink(endpoint) }], log);
    },

    async join(network, endpoint) {
      const gateway = gatewayOf(network, 4);
      const gatewayV6 = gatewayOf(network, 6);
      // No gateway (none given, or --internal): no default route, and no docker_gwbridge either.
      return { srcName: endpointLink(endpoint), dstPrefix: 'eth', gateway, gatewayV6, staticRoutes: [], disableGatewayService: network.internal || (!gateway && !gatewayV6) };
    },

    async leave() {},

    firewallRules: () => [],
    isolationInterfaces: () => [],
    // A container on the segment is reached on its own address: -p takes no host port (as Docker's macvlan ignores it).
    publishesDirectly: () => true,

    ownedLinks(view) {
      const state = macvlanStateOf(view.network.driverState);
      return [...(state.createdParent ? [state.parent] : []), ...view.endpoints.map(endpointLink)];
    },

    async reconcile(view) {
      const state = macvlanStateOf(view.network.driverState);
      if (!state.createdParent) return;
      const { ops } = await parentOps(state, view.network.id).catch(() => ({ ops: [] as HostOp[] }));
      await applyOps(host, ops, log);
    },
  };
}

function gatewayOf(network: NetworkRecord, family: 4 | 6): string | undefined {
  if (network.internal) return undefined;
  const gateway = (family === 4 ? network.ipv4 : network.ipv6).find((p) => p.gateway)?.gateway;
  return gateway ? addressOf(gateway) : undefined;
}
