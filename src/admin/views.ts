import type { PeerReport } from '../../drivers/overlay/peers.js';
import type { EndpointRecord, NetworkRecord, PortBinding } from '../core/model.js';
import type { PoolUsage } from '../ipam/address-space.js';

/**
 * What the admin interface shows, built from the daemon's own records (pure). Docker's names
 * are added where the daemon could learn them from the Docker API outside any plugin call; a
 * name tsnet does not know is shown as absent, never guessed.
 */
export interface DockerNames {
  readonly networks: ReadonlyMap<string, string>;
  /** Endpoint id → the container Docker attached it to. */
  readonly endpoints: ReadonlyMap<string, { readonly containerId: string; readonly name: string }>;
}

export const NO_NAMES: DockerNames = { networks: new Map(), endpoints: new Map() };

export interface EndpointView {
  readonly id: string;
  readonly container?: string;
  readonly containerId?: string;
  readonly state: string;
  readonly address?: string;
  readonly addressV6?: string;
  readonly mac?: string;
  readonly joined: boolean;
  /** Host-side links of this endpoint (veth ends, sub-interfaces). */
  readonly links: readonly string[];
  readonly ports: readonly PortView[];
}

export interface NetworkView {
  readonly id: string;
  readonly name?: string;
  readonly type: string;
  readonly state: string;
  readonly internal: boolean;
  readonly subnets: ReadonlyArray<{ readonly subnet: string; readonly gateway?: string }>;
  /** The network's own links (bridge, VXLAN device, parent made by tsnet). */
  readonly devices: readonly string[];
  /** What the network's driver tells of its state (an overlay's VNI and layout); absent when nothing. */
  readonly driver?: Readonly<Record<string, string>>;
  readonly options: Readonly<Record<string, string>>;
  readonly createdAt: string;
  readonly endpoints: readonly EndpointView[];
}

export interface PortView {
  readonly network: string;
  readonly networkName?: string;
  readonly endpoint: string;
  readonly container?: string;
  readonly proto: string;
  readonly containerIp?: string;
  readonly containerPort: number;
  /** "" when published on every host address. */
  readonly hostIp: string;
  readonly hostPort: number;
  readonly hostPortEnd: number;
}

/** Link names a network and its endpoints own, as the network's driver declares them. */
export type OwnedLinks = (network: NetworkRecord, endpoints: readonly EndpointRecord[]) => readonly string[];

export function networkView(network: NetworkRecord, endpoints: readonly EndpointRecord[], names: DockerNames, ownedLinks: OwnedLinks, describe?: (network: NetworkRecord) => Readonly<Record<string, string>>): NetworkView {
  const devices = ownedLinks(network, []);
  const name = names.networks.get(network.id);
  const driver = describe?.(network);
  return {
    id: network.id,
    ...(name ? { name } : {}),
    type: network.type,
    state: network.state,
    internal: network.internal,
    subnets: [...network.ipv4, ...network.ipv6].map((p) => ({ subnet: p.pool, ...(p.gateway ? { gateway: p.gateway } : {}) })),
    devices,
    ...(driver && Object.keys(driver).length > 0 ? { driver } : {}),
    options: network.options,
    createdAt: network.createdAt,
    endpoints: endpoints.map((e) => endpointView(network, e, names, ownedLinks(network, [e]).filter((l) => !devices.includes(l)))),
  };
}

function endpointView(network: NetworkRecord, endpoint: EndpointRecord, names: DockerNames, links: readonly string[]): EndpointView {
  const container = names.endpoints.get(endpoint.id);
  return {
    id: endpoint.id,
    ...(container ? { container: container.name, containerId: container.containerId } : {}),
    state: endpoint.state,
    ...(endpoint.address ? { address: endpoint.address } : {}),
    ...(endpoint.addressV6 ? { addressV6: endpoint.addressV6 } : {}),
    ...(endpoint.mac ? { mac: endpoint.mac } : {}),
    joined: endpoint.sandboxKey !== undefined && endpoint.leftAt === undefined,
    links,
    ports: endpoint.ports.map((p) => portView(network, endpoint, p, names)),
  };
}

function portView(network: NetworkRecord, endpoint: EndpointRecord, port: PortBinding, names: DockerNames): PortView {
  const networkName = names.networks.get(network.id);
  const container = names.endpoints.get(endpoint.id)?.name;
  const containerIp = port.hostIp.includes(':') ? endpoint.addressV6 : endpoint.address;
  return {
    network: network.id,
    ...(networkName ? { networkName } : {}),
    endpoint: endpoint.id,
    ...(container ? { container } : {}),
    proto: port.proto,
    ...(containerIp ? { containerIp: containerIp.split('/')[0] } : {}),
    containerPort: port.port,
    hostIp: port.hostIp,
    hostPort: port.hostPort,
    hostPortEnd: port.hostPortEnd,
  };
}

/** An id given in full, or by a prefix of at least 4 characters (shorter ones match too much). */
export function idMatches(id: string, ref: string): boolean {
  return id === ref || (ref.length >= 4 && id.startsWith(ref));
}

/**
 * Finds a network by id, id prefix (4+ characters; Docker shows 12) or Docker name.
 * Undefined when none matches; an ambiguous prefix matches nothing.
 */
export function findNetwork(networks: readonly NetworkView[], ref: string): NetworkView | undefined {
  const byName = networks.filter((n) => n.name === ref);
  if (byName.length === 1) return byName[0];
  const byId = networks.filter((n) => idMatches(n.id, ref));
  return byId.length === 1 ? byId[0] : undefined;
}

/** The endpoints whose container name, container id or endpoint id (or an id prefix of 4+ characters) is `ref`. */
export function endpointsMatching(networks: readonly NetworkView[], ref: string): EndpointView[] {
  return networks.flatMap((n) => n.endpoints).filter((e) => e.container === ref || [e.id, e.containerId ?? ''].some((id) => idMatches(id, ref)));
}

/** Ports of every endpoint, or of the ones whose container name, container id or endpoint id (or a prefix of an id) is `ref`. */
export function portsOf(networks: readonly NetworkView[], ref?: string): PortView[] {
  const chosen = ref === undefined ? networks.flatMap((n) => n.endpoints) : endpointsMatching(networks, ref);
  return chosen.flatMap((e) => e.ports);
}

/** Counts for the status view. */
export function countsOf(networks: readonly NetworkView[]): { networks: Record<string, number>; endpoints: number; ports: number } {
  const byType: Record<string, number> = {};
  for (const n of networks) byType[n.type] = (byType[n.type] ?? 0) + 1;
  const endpoints = networks.flatMap((n) => n.endpoints);
  return { networks: byType, endpoints: endpoints.length, ports: endpoints.reduce((sum, e) => sum + e.ports.length, 0) };
}


/** One overlay network of this host and its peers (`tsnet peers`). */
export interface PeerView {
  readonly network: string;
  readonly name?: string;
  readonly overlay: string;
  /** Absent while this host has no endpoint on the overlay (then it has no VXLAN device and programs no peers). */
  readonly peers?: PeerReport;
}

/** One address space of the tsnet IPAM (`tsnet ipam`); `error` when its store cannot be read (etcd down). */
export interface IpamSpaceView {
  readonly space: string;
  readonly shared: boolean;
  readonly pools: readonly PoolUsage[];
  readonly error?: string;
}
