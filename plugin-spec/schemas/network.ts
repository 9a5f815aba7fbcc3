import { z } from 'zod';
import { isBase64Mac } from '../validators.js';
import { previewValue } from '../format.js';
import {
  Bool, Cidr, Cidr4OrEmpty, Cidr6OrEmpty, CidrOrEmpty, EndpointId, IpOrEmpty, LIMITS, MacOrEmpty, NetworkId,
  NoArguments, OptionValue, Port, Proto, StringMap, expected, list, map, optionsObject, request, str, text,
} from './common.js';

/**
 * NetworkDriver requests, field names exactly as libnetwork's drivers/remote/api/api.go spells
 * them, shapes as dockerd 20.10 really sends them (plugin-spec/fixtures). Docker is a Go
 * program: a nil map or slice arrives as `null`, an empty string means "none".
 */

/** Option keys Docker sets whose shape tsnet relies on (libnetwork netlabel). */
export const OPTION = {
  generic: 'com.docker.network.generic',
  internal: 'com.docker.network.internal',
  enableIpv4: 'com.docker.network.enable_ipv4',
  enableIpv6: 'com.docker.network.enable_ipv6',
  portmap: 'com.docker.network.portmap',
  exposedPorts: 'com.docker.network.endpoint.exposedports',
  macAddress: 'com.docker.network.endpoint.macaddress',
  ifname: 'com.docker.network.endpoint.ifname',
} as const;

/**
 * One address pool of a network as Docker's IPAM handed it out. Pool, Gateway and the
 * AuxAddresses values are all in CIDR form (`10.199.5.1/24`); Gateway and AuxAddresses are
 * absent when the IPAM gave none.
 */
export const IPAMData = z.object({
  AddressSpace: text(LIMITS.name, 'expected an address space name').optional(),
  Pool: Cidr,
  Gateway: CidrOrEmpty.optional(),
  AuxAddresses: map(Cidr, 'aux addresses').nullish(),
}, { error: expected('expected an IPAM data object with AddressSpace, Pool and Gateway') }).loose();
export type IPAMData = z.infer<typeof IPAMData>;

/** One `-p` publication in `com.docker.network.portmap`; Docker splits host port ranges into one entry per port. */
export const PortBinding = z.object({
  Proto,
  IP: IpOrEmpty.optional(),
  Port,
  HostIP: IpOrEmpty.optional(),
  HostPort: Port.optional(),
  HostPortEnd: Port.optional(),
}, { error: expected('expected a port binding {Proto, IP, Port, HostIP, HostPort, HostPortEnd}') }).loose()
  // Docker sends HostPortEnd equal to HostPort for one port, higher for a range, 0 for none.
  .refine((b) => !b.HostPortEnd || b.HostPortEnd >= (b.HostPort ?? 0), {
    path: ['HostPortEnd'],
    error: (issue) => `expected HostPortEnd to be 0 or at least HostPort, got a range ${previewValue((issue.input as { HostPort?: unknown }).HostPort)}-${previewValue((issue.input as { HostPortEnd?: unknown }).HostPortEnd)} that ends before it starts`,
  });
export type PortBinding = z.infer<typeof PortBinding>;

/** One `--expose`d (or published) port in `com.docker.network.endpoint.exposedports`. */
export const TransportPort = z.object({ Proto, Port }, { error: expected('expected a port {Proto, Port}') }).loose();
export type TransportPort = z.infer<typeof TransportPort>;

/** `--mac-address` as Go's encoding/json renders a `net.HardwareAddr`: base64 of the 6 bytes. */
const Base64Mac = str('expected the base64 of a 6-byte MAC address such as AkIKxwXI')
  .refine(isBase64Mac, { error: expected('expected the base64 of a 6-byte MAC address such as AkIKxwXI') });

/**
 * Options of CreateEndpoint, Join and ProgramExternalConnectivity: the container's published
 * and exposed ports (Join and ProgramExternalConnectivity get the sandbox's, also when empty)
 * and, when the user gave `--mac-address`, that MAC. Any other key passes through.
 *
 * `com.docker.network.endpoint.ifname` (Docker 28+, `--network name=N,driver-opt=
 * com.docker.network.endpoint.ifname=foo0`) reaches CreateEndpoint, but no remote driver can
 * honour it: dockerd names a remote driver's interface with SetNames(SrcName, DstPrefix, "")
 * and ignores any DstName in the Join reply (drivers/remote/driver.go, 28.5.2 and master), so
 * the container's interface is always DstPrefix plus an index. It is accepted, not refused,
 * because Docker itself sends it for every driver.
 */
export const EndpointOptions = optionsObject({
  [OPTION.portmap]: list(PortBinding, 'port bindings').nullish(),
  [OPTION.exposedPorts]: list(TransportPort, 'exposed ports').nullish(),
  [OPTION.macAddress]: Base64Mac.optional(),
  [OPTION.ifname]: text(LIMITS.name, 'expected an interface name').optional(),
}).nullish();
export type EndpointOptions = z.infer<typeof EndpointOptions>;

/**
 * Options of CreateNetwork and GwAllocCheck: `docker network create -o k=v` arrives as a map
 * under `com.docker.network.generic` (string values from the CLI and API), `--internal` and
 * `--ipv6` as booleans, and from Docker 28 `com.docker.network.enable_ipv4` (false for
 * `--ipv4=false`) beside `enable_ipv6`. `--label` never reaches the plugin.
 */
export const NetworkOptions = optionsObject({
  [OPTION.generic]: map(z.union([text(LIMITS.value, `expected a string of at most ${LIMITS.value} characters`), z.number(), z.boolean()], {
    error: expected(`expected a string option value of at most ${LIMITS.value} characters`),
  }), 'network options').nullish(),
  [OPTION.internal]: Bool.optional(),
  [OPTION.enableIpv4]: Bool.optional(),
  [OPTION.enableIpv6]: Bool.optional(),
}).nullish();
export type NetworkOptions = z.infer<typeof NetworkOptions>;

/**
 * Docker 28+, only to a driver whose GetCapabilities announced `GwAllocChecker: true`: sent
 * before the IPAM calls of every `docker network create`, with the Options CreateNetwork will
 * get (libnetwork controller.go NewNetwork → GetSkipGwAlloc). The request says nothing about
 * `--gateway`: Docker reserves a gateway the user gave whatever the reply says (network.go
 * ipamAllocateVersion), so "skip" means "skip unless the user asked for one".
 */
export const GwAllocCheckRequest = request({ Options: NetworkOptions });
export type GwAllocCheckRequest = z.infer<typeof GwAllocCheckRequest>;

/** `docker network create`: called after the IPAM pools and gateway are allocated. */
export const CreateNetworkRequest = request({
  NetworkID: NetworkId,
  Options: NetworkOptions,
  IPv4Data: list(IPAMData, 'IPv4 pools').nullish(),
  IPv6Data: list(IPAMData, 'IPv6 pools').nullish(),
});
export type CreateNetworkRequest = z.infer<typeof CreateNetworkRequest>;

/** `docker network rm`, after every endpoint is gone. */
export const DeleteNetworkRequest = request({ NetworkID: NetworkId });
export type DeleteNetworkRequest = z.infer<typeof DeleteNetworkRequest>;

/** Swarm manager only: reserve cluster-wide resources for a global network; Options is Go's map[string]string. */
export const AllocateNetworkRequest = request({
  NetworkID: NetworkId,
  Options: StringMap.nullish(),
  IPv4Data: list(IPAMData, 'IPv4 pools').nullish(),
  IPv6Data: list(IPAMData, 'IPv6 pools').nullish(),
});
export type AllocateNetworkRequest = z.infer<typeof AllocateNetworkRequest>;

/** Swarm manager only: the inverse of AllocateNetwork. */
export const FreeNetworkRequest = request({ NetworkID: NetworkId });
export type FreeNetworkRequest = z.infer<typeof FreeNetworkRequest>;

/**
 * The addresses Docker's IPAM gave the endpoint, in CIDR form, and the user's `--mac-address`;
 * each is "" when Docker has none. Docker always sends the object; absent and null are accepted.
 */
export const EndpointInterface = z.object({
  Address: Cidr4OrEmpty.optional(),
  AddressIPv6: Cidr6OrEmpty.optional(),
  MacAddress: MacOrEmpty.optional(),
}, { error: expected('expected an interface object {Address, AddressIPv6, MacAddress}') }).loose();
export type EndpointInterface = z.infer<typeof EndpointInterface>;

/** Container start or `docker network connect`: after RequestAddress, before Join. */
export const CreateEndpointRequest = request({
  NetworkID: NetworkId,
  EndpointID: EndpointId,
  Interface: EndpointInterface.nullish(),
  Options: EndpointOptions,
});
export type CreateEndpointRequest = z.infer<typeof CreateEndpointRequest>;

/** Asked repeatedly (inspect, `docker port`); the reply's Value feeds `docker port`. */
export const EndpointOperInfoRequest = request({ NetworkID: NetworkId, EndpointID: EndpointId });
export type EndpointOperInfoRequest = z.infer<typeof EndpointOperInfoRequest>;

/** After Leave, on container removal or disconnect. */
export const DeleteEndpointRequest = request({ NetworkID: NetworkId, EndpointID: EndpointId });
export type DeleteEndpointRequest = z.infer<typeof DeleteEndpointRequest>;

const SANDBOX = 'expected an absolute path such as /var/run/docker/netns/0123abcd';

/** Attach the endpoint to a container's network namespace, whose path is SandboxKey. */
export const JoinRequest = request({
  NetworkID: NetworkId,
  EndpointID: EndpointId,
  SandboxKey: str(SANDBOX)
    .max(LIMITS.path, { error: expected(`expected a path of at most ${LIMITS.path} characters`), abort: true })
    .regex(/^\/[^\0]*$/, { error: expected(SANDBOX) })
    .meta({ description: 'absolute path of the container network namespace' }),
  Options: EndpointOptions,
});
export type JoinRequest = z.infer<typeof JoinRequest>;

/** Detach the endpoint from its container, before DeleteEndpoint. */
export const LeaveRequest = request({ NetworkID: NetworkId, EndpointID: EndpointId });
export type LeaveRequest = z.infer<typeof LeaveRequest>;

/** After Join, only for the container's gateway endpoint: publish its ports (Options carry the portmap). */
export const ProgramExternalConnectivityRequest = request({
  NetworkID: NetworkId,
  EndpointID: EndpointId,
  Options: EndpointOptions,
});
export type ProgramExternalConnectivityRequest = z.infer<typeof ProgramExternalConnectivityRequest>;

/** Before Leave: withdraw the published ports. */
export const RevokeExternalConnectivityRequest = request({ NetworkID: NetworkId, EndpointID: EndpointId });
export type RevokeExternalConnectivityRequest = z.infer<typeof RevokeExternalConnectivityRequest>;

/**
 * Node discovery (swarm). libnetwork forwards only type 1 (node) to remote drivers, with
 * `discoverapi.NodeDiscoveryData`, which Go encodes as `{Address, BindAddress, Self}` (Go
 * field names, capitalised: the key is `Self`, never `self`).
 */
export const DiscoveryNotification = request({
  DiscoveryType: z.number({ error: expected('expected a discovery type number (1 = node)') })
    .int({ error: expected('expected a discovery type number (1 = node)') }),
  DiscoveryData: z.object({
    Address: text(LIMITS.name, 'expected a node address').optional(),
    BindAddress: text(LIMITS.name, 'expected a node bind address').optional(),
    Self: Bool.optional(),
  }, { error: expected('expected a discovery data object {Address, BindAddress, Self}') }).catchall(OptionValue).nullish(),
});
export type DiscoveryNotification = z.infer<typeof DiscoveryNotification>;
export const DiscoverNewRequest = DiscoveryNotification;
export type DiscoverNewRequest = DiscoveryNotification;
export const DiscoverDeleteRequest = DiscoveryNotification;
export type DiscoverDeleteRequest = DiscoveryNotification;

/** Right after Activate: Scope and ConnectivityScope. */
export const GetCapabilitiesRequest = NoArguments;
export type GetCapabilitiesRequest = z.infer<typeof GetCapabilitiesRequest>;
