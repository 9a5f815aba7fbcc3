import type { z } from 'zod';
import { TsnetError } from '../src/core/errors.js';
import { linkName, type LinkKind } from '../src/core/ids.js';
import type { EndpointRecord, NetworkRecord } from '../src/core/model.js';
import { rejectUnknownOptions } from '../src/core/options.js';
import { addressOf } from '../src/core/net.js';
import { applyAllBestEffort, applyOps } from '../src/host/apply.js';
import { inverseOf, type HostNet, type HostOp } from '../src/host/hostnet.js';
import type { Driver, DriverDeps, JoinInfo } from './driver.js';
import { PARENT_OPTION, parentStateSchema, planParent, type ParentState } from './parent.js';
import { stateCodec } from './state.js';

/**
 * What distinguishes one sub-interface type (macvlan, ipvlan) from another: its options besides
 * `parent`, and the link an endpoint gets. Everything else (the parent, Join's gateway, no
 * firewall, ports reached directly) is the same and lives in {@link createSubInterfaceDriver}.
 */
export interface SubInterfaceType<Mode> {
  readonly type: 'macvlan' | 'ipvlan';
  readonly linkKind: LinkKind;
  /** Option names besides `parent`. */
  readonly options: readonly string[];
  /** The parsed mode as a stored record holds it. */
  readonly modeSchema: z.ZodType<Mode, unknown>;
  /** The type's own options, parsed (throws naming the option on bad input). */
  planMode(options: Readonly<Record<string, string>>): Mode;
  /** The op that makes an endpoint's link. */
  endpointOp(name: string, parent: string, mode: Mode, endpoint: EndpointRecord): HostOp;
  /** Routing without a gateway (ipvlan L3): the routes Join gives instead. */
  routedJoin?(mode: Mode): boolean;
}


/** The endpoint a kernel probe pretends to be (a MAC no container uses: locally administered, 0x70 'p'). */
const PROBE_ENDPOINT: EndpointRecord = {
  networkId: '', id: '', mac: '02:70:00:00:00:01', macGenerated: true, state: 'pending', exposedPorts: [], ports: [], createdAt: '',
};

export function createSubInterfaceDriver<Mode>(spec: SubInterfaceType<Mode>, { host, log }: DriverDeps): Driver {
  const state = stateCodec<ParentState & { readonly mode: Mode }>(spec.type, parentStateSchema.extend({ mode: spec.modeSchema }));
  const stateOf = (network: NetworkRecord) => state.of(network);
  const endpointLink = (endpoint: EndpointRecord) => linkName(spec.linkKind, endpoint.id);

  return {
    type: spec.type,
    linksOnlyTeardown: true,
    // A gateway only when the user gives one (--gateway): the segment's router is not tsnet's.
    gatewayNeeds: () => ({ ipv4: false, ipv6: false }),

    planNetwork(network, others) {
      rejectUnknownOptions(network.options, [PARENT_OPTION, ...spec.options], spec.type);
      return { mode: spec.planMode(network.options), ...planParent(network, others, spec.type) };
    },

    async createNetwork(network) {
      const state = stateOf(network);
      const { ops, created } = await parentOps(host, state, network.id);
      // A link made and removed at once: a kernel without the module refuses the network now,
      // saying which module to load, rather than its first container later.
      const probe = spec.endpointOp(linkName(spec.linkKind, `probe:${network.id}`), state.parent, state.mode, { ...PROBE_ENDPOINT, id: network.id });
      await applyOps(host, [...ops, probe, ...inverseOf(probe)], log);
      return { createdParent: created };
    },

    async deleteNetwork(network) {
      const state = stateOf(network);
      if (state.createdParent) await applyAllBestEffort(host, [{ op: 'remove-link', name: state.parent }], log);
    },

    async createEndpoint(network, endpoint) {
      const state = stateOf(network);
      await applyOps(host, [spec.endpointOp(endpointLink(endpoint), state.parent, state.mode, endpoint)], log);
    },

    async deleteEndpoint(_network, endpoint) {
      await applyAllBestEffort(host, [{ op: 'remove-link', name: endpointLink(endpoint) }], log);
    },

    async join(network, endpoint): Promise<JoinInfo> {
      const srcName = endpointLink(endpoint);
      if (spec.routedJoin?.(stateOf(network).mode)) {
        // Routed through the parent's host: every destination is on-link, no gateway.
        const staticRoutes = [...(network.ipv4.length ? ['0.0.0.0/0'] : []), ...(network.ipv6.length ? ['::/0'] : [])].map((destination) => ({ destination, routeType: 1 as const }));
        return { srcName, dstPrefix: 'eth', staticRoutes: network.internal ? [] : staticRoutes, disableGatewayService: true };
      }
      const gateway = gatewayOf(network, 4);
      const gatewayV6 = gatewayOf(network, 6);
      // No gateway (none given, or --internal): no default route, and no docker_gwbridge either.
      return { srcName, dstPrefix: 'eth', gateway, gatewayV6, staticRoutes: [], disableGatewayService: network.internal || (!gateway && !gatewayV6) };
    },

    async leave() {},

    firewallRules: () => [],
    isolationInterfaces: () => [],
    // A container on the segment is reached on its own address: -p takes no host port (Docker's drivers ignore it).
    publishesDirectly: () => true,

    ownedLinks(view) {
      const state = stateOf(view.network);
      return [...(state.createdParent ? [state.parent] : []), ...view.endpoints.map(endpointLink)];
    },

    async reconcile(view) {
      const state = stateOf(view.network);
      if (!state.createdParent) return;
      const { ops } = await parentOps(host, state, view.network.id).catch(() => ({ ops: [] as HostOp[] }));
      await applyOps(host, ops, log);
    },
  };
}

/** The parent: tsnet's private link, the VLAN sub-interface it makes, or the user's link as it is. */
async function parentOps(host: HostNet, state: ParentState, networkId: string): Promise<{ ops: HostOp[]; created: boolean }> {
  if (state.privateParent) return { ops: [{ op: 'ensure-bridge', name: state.parent, mtu: 1500 }, { op: 'ensure-up', dev: state.parent }], created: true };
  if (await host.getLink(state.parent)) return { ops: [], created: false };
  if (state.vlan && (await host.getLink(state.vlan.base))) {
    return { ops: [{ op: 'ensure-vlan', name: state.parent, parent: state.vlan.base, vlanId: state.vlan.id }, { op: 'ensure-up', dev: state.parent }], created: true };
  }
  const missing = state.vlan ? `${state.vlan.base} (the link of VLAN ${state.vlan.id})` : state.parent;
  throw new TsnetError('TSNET_PARENT_MISSING', `network option "${PARENT_OPTION}": interface ${missing} does not exist on this host`, `give an interface this host has (ip link show), e.g. -o ${PARENT_OPTION}=eth0; network ${networkId.slice(0, 12)} was not created`);
}

function gatewayOf(network: NetworkRecord, family: 4 | 6): string | undefined {
  if (network.internal) return undefined;
  const gateway = (family === 4 ? network.ipv4 : network.ipv6).find((p) => p.gateway)?.gateway;
  return gateway ? addressOf(gateway) : undefined;
}
