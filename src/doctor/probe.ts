/**
 * What doctor asks the host. Every question is a method, so each check is a small function of
 * the answers and is unit-tested against a fake; the real answers come from {@link HostProbe}
 * (src/doctor/host-probe.ts), which reads /proc and /sys and runs programs through the Runner.
 * A method answers what it found, including "could not tell"; it throws only on a bug.
 */
export interface DoctorProbe {
  /** Whether the kernel has a feature, and how that was learnt. */
  kernelFeature(feature: KernelFeature): Promise<FeatureState>;
  /** A sysctl by its /proc/sys path (`net/ipv4/ip_forward`); undefined when it does not exist. */
  sysctl(key: string): Promise<string | undefined>;
  iptables(): Promise<IptablesState>;
  /** Whether firewalld runs and ufw is enabled. */
  firewallManagers(): Promise<{ readonly firewalld: boolean; readonly ufw: boolean }>;
  docker(dockerHost: string): Promise<DockerState>;
  pluginSocket(path: string): Promise<SocketState>;
  /** Plugin spec files Docker would read for `name` (`/etc/docker/plugins/NAME.spec`…) that exist. */
  pluginSpecFiles(name: string): Promise<string[]>;
  directory(path: string): Promise<DirState>;
  etcdEndpoint(endpoint: string): Promise<EtcdEndpointState>;
  /** One authenticated read under tsnet's prefix: proves credentials and permissions. */
  etcdRead(): Promise<{ readonly ok: true } | { readonly ok: false; readonly error: string }>;
  /** This host's liveness key (`hosts/HOST-ID`) in etcd and what etcd says of the lease it is attached to. */
  etcdHostLease(hostId: string): Promise<HostLeaseState>;
  /** The VTEPs etcd lists for overlays (`overlay/v1/net/NAME/vtep/HOST`). */
  etcdVteps(): Promise<Array<{ readonly network: string; readonly host: string; readonly address: string }>>;
  links(): Promise<LinkState[]>;
  /** Routes of the main tables, both families. */
  routes(): Promise<RouteState[]>;
  /** The device that holds `address`, if any. */
  addressOwner(address: string): Promise<{ readonly dev: string; readonly mtu: number } | undefined>;
  /** The device and MTU the route towards `host` (a name or address) leaves by. */
  routeTowards(host: string): Promise<{ readonly dev: string; readonly mtu: number } | { readonly error: string }>;
  /** Sends one VXLAN-shaped datagram no VTEP accepts; true when the host answered "port unreachable". */
  udpRefused(address: string, port: number): Promise<boolean | { readonly error: string }>;
  /** Whether a DNS server answers (any DNS reply) on address:53 over UDP. */
  dnsAnswers(address: string): Promise<boolean | { readonly error: string }>;
  /** dockerd's "dns" setting, from its configuration file (`servers` empty when it sets none). */
  dockerDns(): Promise<{ readonly file: string; readonly servers: readonly string[] } | { readonly file: string; readonly error: string }>;
  /** Effective user id of doctor itself. */
  uid(): number;
}

export const KERNEL_FEATURES = ['bridge', 'veth', 'vxlan', 'macvlan', 'ipvlan', '8021q', 'br_netfilter', 'xfrm'] as const;
export type KernelFeature = (typeof KERNEL_FEATURES)[number];

export interface FeatureState {
  /** undefined: no source could tell. */
  readonly present: boolean | undefined;
  /** How it was learnt, e.g. "module loaded", "built in", "the kernel refused a test link: Unknown device type". */
  readonly evidence: string;
  /** A module file exists that `modprobe NAME` would load. */
  readonly loadable: boolean;
}

export interface IptablesState {
  /** `iptables -V`; undefined when iptables cannot be run. */
  readonly version?: string;
  readonly backend?: 'nf_tables' | 'legacy';
  /** The filter table's FORWARD chain; undefined when it could not be read (see error). */
  readonly forward?: { readonly policy: string; readonly jumps: readonly string[] };
  /** Rules of DOCKER-USER as `iptables -S` prints them; undefined when the chain does not exist. */
  readonly dockerUser?: readonly string[];
  /** Whether each backend's filter table holds Docker's chains; undefined when it could not be read. */
  readonly dockerChains: { readonly legacy?: boolean; readonly nft?: boolean };
  /** Docker 29's own nftables tables exist (its nftables firewall backend). */
  readonly dockerNftables?: boolean;
  readonly error?: string;
}

export type DockerState =
  | { readonly reachable: true; readonly version: string; readonly apiVersion: string; readonly networks: readonly DockerNetworkState[] }
  | { readonly reachable: false; readonly error: string };

export interface DockerNetworkState {
  readonly name: string;
  readonly driver: string;
  readonly options: Readonly<Record<string, string>>;
  readonly subnets: readonly string[];
}

export type SocketState =
  | { readonly exists: false }
  | {
    readonly exists: true;
    readonly isSocket: boolean;
    readonly mode: number;
    readonly uid: number;
    readonly gid: number;
    /** The answer to POST /Plugin.Activate; absent when the path is not a socket. */
    readonly activate?: { readonly ok: true; readonly implements: readonly string[] } | { readonly ok: false; readonly error: string };
  };

export type DirState =
  | { readonly exists: false; readonly parent: string; readonly parentWritable: true | string }
  | { readonly exists: true; readonly isDirectory: boolean; readonly writable: true | string; readonly freeBytes?: number };

export type EtcdEndpointState =
  | { readonly ok: true; readonly endpoint: string; readonly version: string; readonly rttMs: number; readonly skewMs?: number }
  | { readonly ok: false; readonly endpoint: string; readonly error: string };

export type HostLeaseState =
  | { readonly ok: false; readonly error: string }
  | {
    readonly ok: true;
    /** The key as etcdctl shows it (with tsnet's prefix). */
    readonly key: string;
    /** Absent when the key does not exist. */
    readonly entry?: {
      /** The lease id the key is attached to, in hex as etcdctl shows it; absent when it has none. */
      readonly lease?: string;
      /** Absent when etcd says the lease has expired (the key goes with it). */
      readonly ttl?: { readonly ttlSeconds: number; readonly grantedSeconds: number };
      /** What the daemon wrote into the key: its pid and when it registered. */
      readonly pid?: number;
      readonly since?: string;
    };
  };

export interface LinkState {
  readonly name: string;
  readonly kind?: string;
  readonly mtu: number;
}

export interface RouteState {
  /** `default`, a CIDR, or a bare address (a host route). */
  readonly dst: string;
  readonly dev?: string;
  /** unicast (absent), blackhole, unreachable, prohibit… */
  readonly type?: string;
}
