import type { Logger } from 'pino';
import type { EndpointRecord, NetworkRecord, NetworkType } from '../src/core/model.js';
import type { FirewallRule } from '../src/host/firewall.js';
import type { HostNet } from '../src/host/hostnet.js';

/** What a driver may use. Injected by the composition root; no globals (docs/style.md). */
export interface DriverDeps {
  readonly host: HostNet;
  readonly log: Logger;
}

/** Join's answer, in domain terms; src/api translates it to Docker's JoinResponse. */
export interface JoinInfo {
  /** Interface in the host namespace that Docker moves into the sandbox; none for a null endpoint. */
  readonly srcName?: string;
  /** Docker renames it to this prefix plus an index (eth0, eth1…). */
  readonly dstPrefix: string;
  readonly gateway?: string;
  readonly gatewayV6?: string;
  readonly staticRoutes: ReadonlyArray<{ destination: string; routeType: 0 | 1; nextHop?: string }>;
  /** True when the container must not get Docker's docker_gwbridge default route. */
  readonly disableGatewayService: boolean;
}

/** Per address family: whether a network needs Docker's IPAM to reserve a gateway address. */
export interface GatewayNeeds {
  readonly ipv4: boolean;
  readonly ipv6: boolean;
}

/** What GwAllocCheck tells of the network to come: the user's `-o` options and `--internal`. */
export interface GatewayRequest {
  readonly options: Readonly<Record<string, string>>;
  readonly internal: boolean;
}

/** What a driver that declares nothing gets: a gateway in both families, as Docker before 28 always reserved. */
export const GATEWAY_IN_BOTH_FAMILIES: GatewayNeeds = { ipv4: true, ipv6: true };

/** Every record the driver's networks own, for ruleset and reconciliation computations. */
export interface NetworkView {
  readonly network: NetworkRecord;
  readonly endpoints: readonly EndpointRecord[];
}

/**
 * One network type. libnetwork calls the CNM verbs in a fixed order (docs/protocol.md); tsnet's CNM
 * layer has already validated input, persisted a `pending` record and serialised calls per
 * network before a driver method runs. A driver method either completes or leaves the kernel as
 * it found it (rollback), and must be idempotent: it may be re-run by reconciliation.
 */
export interface Driver {
  readonly type: NetworkType;

  /**
   * False for a type whose endpoints have no interface (null): no MAC is made for them, Join
   * names no interface, and their addresses are never routed, so the address plan Docker sends
   * is not checked. Absent: true.
   */
  readonly endpointInterface?: boolean;

  /**
   * True when deleteEndpoint, once {@link withdrawEndpoint} (if the type has it) is done, only
   * removes tsnet-named links of the endpoint, which start-up removes anyway once no record owns
   * them: DeleteEndpoint may then answer Docker as soon as the record is gone and remove the
   * links after (a link's deletion waits ~20 ms in the kernel for RCU, on the path of every
   * `docker stop` and `docker run --rm`). The network's queue is held until they are gone, so
   * nothing on the network overtakes the removal. Absent: false.
   */
  readonly linksOnlyTeardown?: boolean;

  /**
   * What must be done before Docker hears that an endpoint is deleted, when the rest is links
   * ({@link linksOnlyTeardown}): the overlay withdraws the endpoint from its peers, since Docker
   * may give its address to a container on another host as soon as it has the answer.
   * deleteEndpoint still works without it (and does not repeat it). Optional: nothing to withdraw.
   */
  withdrawEndpoint?(network: NetworkRecord, endpoint: EndpointRecord): Promise<void>;

  /**
   * Whether this type's networks need a gateway address from Docker's IPAM, per family.
   * Docker 28+ asks before every `docker network create` (NetworkDriver.GwAllocCheck) and, for
   * a family marked false, reserves no gateway, so the address stays free for containers.
   * Docker still reserves a gateway the user gave with `--gateway`, whatever this says (its
   * GwAllocCheck request does not even tell the driver), so a driver that uses a gateway only
   * when one is given (macvlan, ipvlan, null) declares false. Absent: {@link GATEWAY_IN_BOTH_FAMILIES}
   * (a bridge is the containers' gateway). It sees only the request's options, since the
   * network does not exist yet, and must not refuse: CreateNetwork, which follows, checks them.
   */
  gatewayNeeds?(request: GatewayRequest): GatewayNeeds;

  /**
   * Validate the user's options and compute the driver state for a new network. Pure: called
   * before anything is stored, so a refusal leaves nothing behind. `others` are the networks
   * that already exist, to refuse clashes (same bridge name, overlapping subnet).
   */
  planNetwork(network: NetworkRecord, others: readonly NetworkRecord[]): Record<string, unknown>;

  /**
   * Make the network's kernel objects exist. Called after the pending record is stored.
   * Returns facts learned while doing so (e.g. that a bridge already existed and was adopted),
   * merged into the network's driver state.
   */
  createNetwork(network: NetworkRecord): Promise<Record<string, unknown>>;

  /** Remove every kernel object of the network. Idempotent; not-found is success. */
  deleteNetwork(network: NetworkRecord): Promise<void>;

  createEndpoint(network: NetworkRecord, endpoint: EndpointRecord): Promise<void>;
  deleteEndpoint(network: NetworkRecord, endpoint: EndpointRecord): Promise<void>;

  join(network: NetworkRecord, endpoint: EndpointRecord, sandboxKey: string): Promise<JoinInfo>;
  leave(network: NetworkRecord, endpoint: EndpointRecord): Promise<void>;

  /**
   * True when the network's subnets are routed on this host (its gateway is a host interface:
   * a bridge, an overlay's local gateway): tsnet's CNM layer then refuses a network whose
   * subnet overlaps another such network's, since the kernel would route it to only one of
   * them. Absent: false.
   */
  routesSubnets?(network: NetworkRecord): boolean;

  /** The firewall rules this network needs given its endpoints (pure). */
  firewallRules(view: NetworkView): FirewallRule[];

  /**
   * Interfaces whose traffic must be isolated from other networks' interfaces (a bridge), or an
   * empty list for drivers whose traffic never crosses the host's forwarding path.
   */
  isolationInterfaces(network: NetworkRecord): string[];

  /**
   * The host IP for a published port the user gave without one (`-p 8080:80`, which Docker sends
   * with HostIP ""). Optional: without it such a port is published on every host address.
   */
  defaultHostIp?(network: NetworkRecord): string | undefined;

  /**
   * True when a published port of this address family is reached on the container's own address
   * (Docker's `routed` gateway mode): the host port in `-p` means nothing, so none is taken.
   * Optional: without it every published port takes a host port.
   */
  publishesDirectly?(network: NetworkRecord, family: 4 | 6): boolean;

  /**
   * What `tsnet network` shows of the network's own state besides its links (an overlay's
   * VNI and data path layout), as key=value text. Optional: nothing more is shown.
   */
  describe?(network: NetworkRecord): Readonly<Record<string, string>>;

  /** Names of every kernel link this network and its endpoints own (for leftover detection). */
  ownedLinks(view: NetworkView): string[];

  /**
   * For a joined endpoint: true when the kernel shows its container is gone (a container's
   * namespace takes the veth pair with it). Lets a new endpoint take the address of one whose
   * removal tsnet never heard of. Optional: without it only other evidence counts.
   */
  containerGone?(network: NetworkRecord, endpoint: EndpointRecord, now: number): Promise<boolean>;

  /** At start-up: recreate what the records say exists and the kernel lacks. */
  reconcile(view: NetworkView): Promise<void>;

  /**
   * At shutdown, after the last call: stop background work (watches, timers). The kernel is left
   * as it is, so containers keep their network while tsnet is down. Optional: nothing to stop.
   */
  stop?(): Promise<void>;
}
