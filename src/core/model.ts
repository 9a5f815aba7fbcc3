/**
 * The CNM objects as tsnet stores them. These are camelCase domain types; Docker's PascalCase
 * wire names stay in plugin-spec/ and src/api/. Records are JSON-serialisable because they are
 * persisted in the KV store before any kernel change is made.
 */
export const NETWORK_TYPES = ['bridge', 'overlay', 'macvlan', 'ipvlan', 'null'] as const;
export type NetworkType = (typeof NETWORK_TYPES)[number];

/** One address pool of a network, as Docker's IPAM handed it to CreateNetwork. */
export interface IpPool {
  readonly addressSpace: string;
  /** Subnet in CIDR form, e.g. 10.1.0.0/24. */
  readonly pool: string;
  /** Gateway in CIDR form, e.g. 10.1.0.1/24; absent when the IPAM gave none. */
  readonly gateway?: string;
  readonly auxAddresses: Readonly<Record<string, string>>;
}

/** Lifecycle of a record: written as `pending` before kernel work, `ready` once it is done. */
export type RecordState = 'pending' | 'ready';

export interface NetworkRecord {
  readonly id: string;
  readonly type: NetworkType;
  readonly ipv4: readonly IpPool[];
  readonly ipv6: readonly IpPool[];
  readonly internal: boolean;
  readonly enableIpv6: boolean;
  /** The user's `-o` options exactly as given, kept to detect a conflicting re-create. */
  readonly options: Readonly<Record<string, string>>;
  readonly state: RecordState;
  readonly createdAt: string;
  /** Driver-specific, JSON-serialisable state (e.g. the bridge name and whether tsnet made it). */
  readonly driverState: Readonly<Record<string, unknown>>;
}

export type Protocol = 'tcp' | 'udp' | 'sctp';

/** A published port, in Docker's terms (`-p [hostIp:]hostPort[-hostPortEnd]:port/proto`). */
export interface PortBinding {
  readonly proto: Protocol;
  /** Container port. */
  readonly port: number;
  /** "" means every host address. */
  readonly hostIp: string;
  /** 0 asks tsnet to choose a free port. */
  readonly hostPort: number;
  readonly hostPortEnd: number;
}

export interface ExposedPort {
  readonly proto: Protocol;
  readonly port: number;
}

export interface EndpointRecord {
  readonly networkId: string;
  readonly id: string;
  /** CIDR strings as Docker gave them. */
  readonly address?: string;
  readonly addressV6?: string;
  readonly mac: string;
  /** True when tsnet chose the MAC (and returned it to Docker). */
  readonly macGenerated: boolean;
  readonly state: RecordState;
  /** Set while the endpoint is joined to a sandbox (container network namespace). */
  readonly sandboxKey?: string;
  /** When the endpoint joined its sandbox (absent in records written before tsnet kept it). */
  readonly joinedAt?: string;
  /**
   * When the endpoint left its sandbox. Docker never joins an endpoint again after Leave (a
   * reconnect makes a new one): a left endpoint only waits for its DeleteEndpoint.
   */
  readonly leftAt?: string;
  readonly exposedPorts: readonly ExposedPort[];
  /** Port bindings in force (host ports resolved), set by ProgramExternalConnectivity. */
  readonly ports: readonly PortBinding[];
  readonly createdAt: string;
}

/**
 * How long after Join a container may still be starting: Docker makes the sandbox's namespace
 * file and moves the container's interface into it only when the container starts, which under
 * load can take seconds. Until then neither their absence tells that the container is gone.
 */
export const JOIN_SETTLE_MS = 30_000;

/** True when the endpoint joined long enough ago for its sandbox to be in place (or joined before tsnet kept the time). */
export function joinSettled(endpoint: EndpointRecord, now: number): boolean {
  return endpoint.joinedAt === undefined || now - Date.parse(endpoint.joinedAt) > JOIN_SETTLE_MS;
}

/**
 * A Sandbox is one container's network namespace. Docker names it by its SandboxKey; tsnet
 * learns of it in Join and forgets it after the last Leave, so it is derived from endpoints.
 */
export interface Sandbox {
  readonly key: string;
  readonly endpointIds: readonly string[];
}

export function protocolName(proto: number): Protocol | undefined {
  return proto === 6 ? 'tcp' : proto === 17 ? 'udp' : proto === 132 ? 'sctp' : undefined;
}

export function protocolNumber(proto: Protocol): number {
  return proto === 'tcp' ? 6 : proto === 'udp' ? 17 : 132;
}
