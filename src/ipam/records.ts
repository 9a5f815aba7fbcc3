/** What the IPAM stores, per address space, in the space's KvStore (local file store or etcd). */
export interface PoolRecord {
  readonly pool: string;
  readonly subPool?: string;
  readonly v6: boolean;
  /** RequestPool references per host: a pool goes when the last reference is released. */
  readonly refs: Readonly<Record<string, number>>;
  /** When each host last changed its references (absent in records of older versions). */
  readonly touched?: Readonly<Record<string, string>>;
  readonly options: Readonly<Record<string, string>>;
  readonly createdAt: string;
}

export interface AddressRecord {
  /** Host (tsnet --host-id) that allocated the address: dead hosts' addresses can be reclaimed. */
  readonly host: string;
  readonly at: string;
  readonly kind: 'gateway' | 'address';
  /** The RequestAddress call that allocated it, while its reply may not have reached Docker (see unanswered.ts). */
  readonly call?: string;
}

/** A pool CIDR as a key segment: "10.1.0.0/16" → "10.1.0.0_16". */
export function poolKey(pool: string): string {
  return pool.replace('/', '_');
}

export function spaceKeys(space: string) {
  const base = `ipam/v1/${space}`;
  return {
    pools: `${base}/pools/`,
    pool: (key: string) => `${base}/pools/${key}`,
    /** Bumped by every pool creation and deletion, so overlap checks are serialised per space. */
    poolsVersion: `${base}/pools-version`,
    addrs: (key: string) => `${base}/addr/${key}/`,
    addr: (key: string, ip: string) => `${base}/addr/${key}/${ip}`,
    cursors: (key: string) => `${base}/cursor/${key}/`,
    /** Markers of allocations whose reply has not reached Docker yet (see unanswered.ts). */
    unanswered: (key: string) => `${base}/unanswered/${key}/`,
    unansweredAt: (key: string, ip: string) => `${base}/unanswered/${key}/${ip}`,
    cursor: (key: string, host: string) => `${base}/cursor/${key}/${host}`,
    /** The gateway of a shared pool: one address, used by every host that has the network. */
    gateway: (key: string) => `${base}/gw/${key}`,
  };
}

/** The shared gateway of a pool in a space other hosts use too. */
export interface GatewayRecord {
  readonly ip: string;
  readonly hosts: readonly string[];
}

/** Liveness key of a host in the global store, attached to the host's lease. */
export const hostKey = (hostId: string): string => `hosts/${hostId}`;
