/**
 * Every error code tsnet raises, with how it behaves: its kind (libnetwork's error classes as a
 * field), whether retrying the same request may succeed, and what it means. The one place these
 * facts live: TsnetError reads kind and retryable from here, the API layer logs them, and a code
 * missing here does not compile.
 */
export type ErrorKind = 'invalid' | 'not-found' | 'conflict' | 'unavailable' | 'internal';

interface Entry {
  readonly kind: ErrorKind;
  /** The same request may succeed later without the user changing anything. */
  readonly retryable: boolean;
  readonly meaning: string;
}

const invalid = (meaning: string): Entry => ({ kind: 'invalid', retryable: false, meaning });
const conflict = (meaning: string): Entry => ({ kind: 'conflict', retryable: false, meaning });
const notFound = (meaning: string): Entry => ({ kind: 'not-found', retryable: false, meaning });
const unavailable = (meaning: string, retryable = true): Entry => ({ kind: 'unavailable', retryable, meaning });

export const ERROR_CATALOGUE = {
  // Addresses, pools and gateways Docker hands CreateNetwork and CreateEndpoint.
  TSNET_ADDR_INVALID: invalid('an endpoint address is not an address'),
  TSNET_ADDR_OUTSIDE: invalid('an endpoint address is outside its network\'s pools'),
  TSNET_ADDR_PREFIX: invalid('an endpoint address has another prefix length than its pool'),
  TSNET_ADDR_RESERVED: invalid('an endpoint address is its pool\'s network, broadcast or gateway address'),
  TSNET_ADDR_TAKEN: conflict('an endpoint address is used by another endpoint of the network'),
  TSNET_AUX_INVALID: invalid('an auxiliary address is malformed or outside its pool'),
  TSNET_CIDR_INVALID: invalid('a subnet or address with prefix is malformed'),
  TSNET_GATEWAY_INVALID: invalid('a gateway is outside its pool, of the wrong family or a reserved address'),
  TSNET_MAC_INVALID: invalid('a MAC address is malformed, multicast or all zeros'),
  TSNET_POOL_DUPLICATE: invalid('a network is given the same or overlapping subnets twice'),
  TSNET_POOL_FAMILY: invalid('a subnet arrived among the other family\'s pools'),
  TSNET_POOL_RESERVED: invalid('a subnet covers loopback, link-local, multicast or another reserved range'),
  TSNET_SUBNET_OVERLAP: conflict('a subnet overlaps one of another tsnet network'),
  // Networks and endpoints.
  TSNET_NETWORK_EXISTS: conflict('a network id exists with other settings'),
  TSNET_NETWORK_UNKNOWN: notFound('a call names a network tsnet does not have'),
  TSNET_ENDPOINT_EXISTS: conflict('an endpoint id exists with other settings'),
  TSNET_ENDPOINT_UNKNOWN: notFound('a call names an endpoint tsnet does not have'),
  TSNET_ENDPOINT_JOINED: conflict('an endpoint is already joined to another sandbox'),
  TSNET_ENDPOINT_LEFT: conflict('an endpoint left its sandbox and can only be deleted'),
  TSNET_ENDPOINT_NOT_JOINED: invalid('ports are published for an endpoint that is not joined'),
  TSNET_TYPE_UNAVAILABLE: invalid('a network type this daemon cannot build'),
  TSNET_OPT_INVALID: invalid('a network option has a value tsnet cannot honour'),
  TSNET_OPT_UNKNOWN: invalid('a network option the type does not know'),
  TSNET_IFNAME_INVALID: invalid('an interface name Linux would refuse'),
  TSNET_BRIDGE_NAME_TAKEN: conflict('a bridge name is used by another tsnet network'),
  TSNET_PARENT_INVALID: invalid('a macvlan/ipvlan parent tsnet may not use'),
  TSNET_PARENT_MISSING: invalid('a macvlan/ipvlan parent interface does not exist'),
  TSNET_PARENT_BUSY: conflict('a macvlan/ipvlan parent is used by another tsnet network'),
  // Published ports.
  TSNET_PORT_INVALID: invalid('a port or port range is out of range or reversed'),
  TSNET_PORT_FAMILY: invalid('a port is published on a family the container has no address in'),
  TSNET_PORT_HOSTIP: invalid('a host IP to publish on is not an address of this host'),
  TSNET_PORT_TAKEN: conflict('a host port is published by another endpoint or held by a program'),
  // The host: kernel, firewall, programs.
  TSNET_HOST_APPLY: unavailable('a kernel change failed; what the call had done was rolled back'),
  TSNET_HOST_TEARDOWN: unavailable('some kernel objects could not be removed'),
  TSNET_HOST_COMMAND: unavailable('the host refused a command tsnet did not expect to fail'),
  TSNET_HOST_EXEC: unavailable('a program tsnet needs is missing', false),
  TSNET_HOST_NOT_BRIDGE: conflict('an interface of the wanted name exists and is not a bridge'),
  TSNET_HOST_LINK_EXISTS: conflict('an interface of the wanted name exists and is of another kind'),
  TSNET_HOST_NOT_VXLAN: conflict('an interface of the wanted name exists and is not a VXLAN device'),
  TSNET_HOST_NO_ROUTE: unavailable('no route with a source address towards the underlay target'),
  TSNET_KERNEL_UNSUPPORTED: unavailable('the kernel lacks the module an interface kind needs', false),
  TSNET_FIREWALL: unavailable('iptables refused a change; nothing was changed'),
  TSNET_FIREWALL_RULE: invalid('a firewall rule argument tsnet will not write'),
  TSNET_DEADLINE: unavailable('a call did not finish within the handler deadline; it was rolled back'),
  // tsnet's IPAM.
  TSNET_IPAM_ADDR_IN_USE: conflict('an address asked for is allocated'),
  TSNET_IPAM_ADDR_OUTSIDE: invalid('an address asked for is outside the pool'),
  TSNET_IPAM_CONTENDED: unavailable('too many concurrent changes to one pool'),
  TSNET_IPAM_EXHAUSTED: conflict('a pool has no free address'),
  TSNET_IPAM_FAMILY: invalid('an address or pool of the wrong family'),
  TSNET_IPAM_GATEWAY: conflict('a shared pool\'s gateway is already another address'),
  TSNET_IPAM_NO_DEFAULT_POOL: conflict('every default pool overlaps one in use'),
  TSNET_IPAM_NO_ETCD: unavailable('a global pool without etcd configured', false),
  TSNET_IPAM_OPT_INVALID: invalid('an IPAM option has a bad value'),
  TSNET_IPAM_OPT_UNKNOWN: invalid('an IPAM option tsnet does not know'),
  TSNET_IPAM_POOL_ALIGN: invalid('a subnet has host bits set'),
  TSNET_IPAM_POOL_EXISTS: conflict('a pool exists with another ip-range'),
  TSNET_IPAM_POOL_ID: invalid('a pool id tsnet did not hand out'),
  TSNET_IPAM_POOL_OVERLAP: conflict('a pool overlaps one in the address space'),
  TSNET_IPAM_POOL_UNKNOWN: notFound('a pool that does not exist (any more)'),
  TSNET_IPAM_SPACE_UNKNOWN: notFound('an address space tsnet does not have'),
  TSNET_IPAM_SUBPOOL: invalid('an ip-range outside its subnet or malformed'),
  // The overlay.
  TSNET_OVERLAY_ADDR_TAKEN: conflict('an overlay address is used by another endpoint (pools not shared)'),
  TSNET_OVERLAY_CONTENDED: unavailable('too many concurrent changes of one overlay in etcd'),
  TSNET_OVERLAY_DUPLICATE: invalid('this host already has a network for that overlay'),
  TSNET_OVERLAY_MISMATCH: conflict('an overlay exists with other settings'),
  TSNET_OVERLAY_MTU: invalid('an overlay MTU that does not fit the underlay'),
  TSNET_OVERLAY_NAME: invalid('an overlay name is missing or malformed'),
  TSNET_OVERLAY_NO_ETCD: unavailable('an overlay without etcd configured', false),
  TSNET_OVERLAY_NO_LEASE: unavailable('this host is not registered in etcd yet'),
  TSNET_OVERLAY_NO_VNI: conflict('no free VNI'),
  TSNET_OVERLAY_SUBNET: invalid('an overlay subnet unlike the other hosts\''),
  TSNET_OVERLAY_VNI_TAKEN: conflict('a VNI used by another overlay'),
  TSNET_VXLAN_BUSY: conflict('another VXLAN device uses the VNI and port on this host'),
  TSNET_UNDERLAY: invalid('no usable underlay address is configured'),
  TSNET_UNDERLAY_DNS: unavailable('the etcd host name does not resolve'),
  TSNET_HOST_ALIVE: conflict('another live daemon uses this host id'),
  // The stores.
  TSNET_KV_CLOSED: unavailable('the store is closed (the daemon is stopping)'),
  TSNET_KV_CORRUPT: unavailable('the store on disk cannot be read back', false),
  TSNET_STATE_CORRUPT: unavailable('a network record whose driver state does not fit its type', false),
  TSNET_KV_IO: unavailable('the store could not read or write its files'),
  TSNET_KV_KEY: invalid('a key the store refuses'),
  TSNET_KV_LEASE: invalid('a lease TTL out of range'),
  TSNET_KV_LEASE_GONE: notFound('a lease that expired or was revoked'),
  TSNET_KV_LOCKED: conflict('the state directory is in use by another daemon'),
  TSNET_KV_REVISION: invalid('a watch revision that is not a whole number'),
  TSNET_KV_TXN: invalid('a transaction the store refuses'),
  TSNET_KV_VALUE: invalid('a value the store refuses'),
  TSNET_ETCD_UNAVAILABLE: unavailable('etcd cannot be reached'),
  // The admin API and its CLI.
  TSNET_ADMIN_UNREACHABLE: unavailable('the daemon\'s admin API cannot be reached'),
  TSNET_ADMIN_REFUSED: notFound('the admin API has no such network, container or endpoint'),
  TSNET_ADMIN_REPLY: unavailable('the admin socket answered something that is not tsnet', false),
  // Start-up and the protocol.
  TSNET_CLI_ARGS: invalid('a command-line argument is wrong'),
  TSNET_ETCD_CA: invalid('the etcd CA file cannot be read'),
  TSNET_ETCD_CERT: invalid('the etcd client certificate cannot be read'),
  TSNET_ETCD_KEY: invalid('the etcd client key cannot be read'),
  TSNET_ETCD_PASSWORD_FILE: invalid('the etcd password file cannot be read'),
  TSNET_SOCKET_BUSY: conflict('another process answers on the plugin socket'),
  TSNET_CLIENT_GONE: unavailable('the client went away before the reply'),
  TSNET_DOCKER_API: unavailable('the Docker API answered an error'),
  TSNET_DOCKER_UNREACHABLE: unavailable('the Docker API cannot be reached'),
  TSNET_ABORTED: unavailable('work abandoned because the daemon is stopping'),
} as const satisfies Record<`TSNET_${string}`, Entry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;
