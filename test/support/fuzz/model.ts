/**
 * The fuzzer's vocabulary: a case is a setup (objects created with valid calls, like Docker
 * would) followed by fuzzed steps against it; each step records which slots got hostile values.
 */

/** Names and addresses of one case's objects; every case gets its own. */
export interface Ctx {
  readonly netId: string;
  readonly epId: string;
  readonly ep2Id: string;
  /** First three octets of the case's IPv4 /24, e.g. `10.77.3`. */
  readonly net: string;
  /** First 48 bits of the case's IPv6 /64, e.g. `fd00:77:3`. */
  readonly net6: string;
  readonly sandboxKey: string;
}

/** Objects created (validly) before the fuzzed steps, in this order. */
export type SetupKind =
  | 'none'
  /** RequestPool + the gateway's RequestAddress through tsnet's IPAM. */
  | 'pool'
  /** CreateNetwork, IPv4 only (Docker's own IPAM: pool data given). */
  | 'network'
  /** CreateNetwork, IPv4 and IPv6. */
  | 'network-dual'
  /** CreateNetwork adopting the existing bridge `brx0` of the namespace. */
  | 'network-adopt'
  /** network + CreateEndpoint. */
  | 'endpoint'
  /** endpoint + Join. */
  | 'joined'
  /** joined + ProgramExternalConnectivity publishing one port. */
  | 'published';

export const SETUP_KINDS: readonly SetupKind[] = ['none', 'pool', 'network', 'network-dual', 'network-adopt', 'endpoint', 'joined', 'published'];

/** A slot that got a hostile value: its path in the body (`Options.com.docker.network.generic.<key __proto__>`). */
export interface HostileSlot {
  readonly path: string;
  readonly value: unknown;
  readonly mustRefuse?: string;
}

/** Where a step came from. */
export type Origin = 'schema' | 'fixture' | 'sequence';

/** One call. `body` is the raw HTTP body (undefined: empty); `$POOL` in it stands for the case's pool id. */
export interface Step {
  readonly method: string;
  readonly body: string | undefined;
  readonly hostile: readonly HostileSlot[];
  readonly origin: Origin;
  /** Why this call must be refused whatever the dumps show (a sequence rule or a hostile value). */
  readonly mustRefuse?: string;
  /** Short description of how the step was made (fixture line and mutations, sequence name). */
  readonly note?: string;
}

export interface FuzzCase {
  readonly ctx: Ctx;
  readonly setup: SetupKind;
  readonly steps: readonly Step[];
}

/** The token a step body uses for the pool id the setup obtained. */
export const POOL_TOKEN = '$POOL';
