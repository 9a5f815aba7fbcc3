import type { z } from 'zod';
import { TsnetError } from '../src/core/errors.js';
import { linkName, type LinkKind } from '../src/core/ids.js';
import type { EndpointRecord, NetworkRecord } from '../src/core/model.js';
import { rejectUnknownOptions } from '../src/core/options.js';
import { addressOf } from '../src/core/net.js';
import type { HostNet, HostOp } from '../src/host/hostnet.js';
import { declaredDriver } from './declared.js';
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

export function createSubInterfaceDriver<Mode>(spec: SubInterfaceType<Mode>, deps: DriverDeps): Driver {
  const { host } = deps;
  const endpointLink = (endpoint: EndpointRecord) => linkName(spec.linkKind, endpoint.id);

  return declaredDriver<ParentState & { readonly mode: Mode }>({
    type: spec.type,
    state: stateCodec(spec.type, parentStateSchema.extend({ mode: spec.modeSchema })),
    // A gateway only when the user gives one (--gateway): the segment's router is not tsnet's.
    gatewayNeeds: () => ({ ipv4: false, ipv6: false }),

    plan(network, others) {
      rejectUnknownOptions(network.options, [PARENT_OPTION, ...spec.options], spec.type);
      return { mode: spec.planMode(network.options), ...planParent(network, others, spec.type) };
    },

    learn: async (network, state) => ({ createdParent: await parentIsMade(host, state, network.id) }),
    network: (_network, state) => ({ ops: parentOps(state) }),
    // A kernel without the module refuses the network now, saying which module to load.
    probe: (network, state) => spec.endpointOp(linkName(spec.linkKind, `probe:${network.id}`), state.parent, state.mode, { ...PROBE_ENDPOINT, id: network.id }),
    endpoint: (_network, state, endpoint) => ({ ops: [spec.endpointOp(endpointLink(endpoint), state.parent, state.mode, endpoint)] }),

    join(network, state, endpoint): JoinInfo {
      const srcName = endpointLink(endpoint);
      if (spec.routedJoin?.(state.mode)) {
        // Routed through the parent's host: every destination is on-link, no gateway.
        const staticRoutes = [...(network.ipv4.length ? ['0.0.0.0/0'] : []), ...(network.ipv6.length ? ['::/0'] : [])].map((destination) => ({ destination, routeType: 1 as const }));
        return { srcName, dstPrefix: 'eth', staticRoutes: network.internal ? [] : staticRoutes, disableGatewayService: true };
      }
      const gateway = gatewayOf(network, 4);
      const gatewayV6 = gatewayOf(network, 6);
      // No gateway (none given, or --internal): no default route, and no docker_gwbridge either.
      return { srcName, dstPrefix: 'eth', gateway, gatewayV6, staticRoutes: [], disableGatewayService: network.internal || (!gateway && !gatewayV6) };
    },

    // A container on the segment is reached on its own address: -p takes no host port (Docker's drivers ignore it).
    publishesDirectly: () => true,
  }, deps);
}

/**
 * Whether tsnet makes the parent: its private link, or the VLAN sub-interface of a link the host
 * has; the user's own link is used as it is. Refuses a parent the host does not have.
 */
async function parentIsMade(host: HostNet, state: ParentState, networkId: string): Promise<boolean> {
  if (state.privateParent) return true;
  if (await host.getLink(state.parent)) return false;
  if (state.vlan && (await host.getLink(state.vlan.base))) return true;
  const missing = state.vlan ? `${state.vlan.base} (the link of VLAN ${state.vlan.id})` : state.parent;
  throw new TsnetError('TSNET_PARENT_MISSING', `network option "${PARENT_OPTION}": interface ${missing} does not exist on this host`, `give an interface this host has (ip link show), e.g. -o ${PARENT_OPTION}=eth0; network ${networkId.slice(0, 12)} was not created`);
}

/** The parent tsnet makes, if it makes one: a private parent always is tsnet's. */
function parentOps(state: ParentState): HostOp[] {
  if (state.privateParent) return [{ op: 'ensure-bridge', name: state.parent, mtu: 1500 }, { op: 'ensure-up', dev: state.parent }];
  if (state.createdParent && state.vlan) return [{ op: 'ensure-vlan', name: state.parent, parent: state.vlan.base, vlanId: state.vlan.id }, { op: 'ensure-up', dev: state.parent }];
  return [];
}

function gatewayOf(network: NetworkRecord, family: 4 | 6): string | undefined {
  if (network.internal) return undefined;
  const gateway = (family === 4 ? network.ipv4 : network.ipv6).find((p) => p.gateway)?.gateway;
  return gateway ? addressOf(gateway) : undefined;
}
