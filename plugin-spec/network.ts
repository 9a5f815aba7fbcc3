import { z } from 'zod';
import { boundedArray, cidr, errorResponse, id, ip, mac, noArguments, optionalCidr, optionalIp, optionsMap, port, proto, stringMap, text } from './common.js';

/**
 * NetworkDriver requests and replies, field names exactly as libnetwork's
 * drivers/remote/api/api.go spells them. Requests are strict about the fields tsnet reads and
 * tolerant of extra ones (future Docker versions add fields).
 */

export const IPAMData = z.object({
  AddressSpace: text.optional(),
  Pool: cidr,
  Gateway: optionalCidr,
  AuxAddresses: z.union([stringMap, z.null()]).optional(),
}).loose();

/** `-p` entries in com.docker.network.portmap. */
export const PortBinding = z.object({
  Proto: proto,
  IP: optionalIp,
  Port: port,
  HostIP: optionalIp,
  HostPort: port.optional(),
  HostPortEnd: port.optional(),
}).loose();

export const TransportPort = z.object({ Proto: proto, Port: port }).loose();

/** Endpoint options: the port data Docker sends is typed; anything else passes through. */
export const EndpointOptions = z.union([
  z.null(),
  optionsMap.pipe(z.object({
    'com.docker.network.portmap': z.union([boundedArray(PortBinding), z.null()]).optional(),
    'com.docker.network.endpoint.exposedports': z.union([boundedArray(TransportPort), z.null()]).optional(),
  }).loose()),
]).optional();

export const CreateNetworkRequest = z.object({
  NetworkID: id,
  Options: z.union([z.null(), optionsMap.pipe(z.object({
    'com.docker.network.generic': z.union([z.null(), optionsMap]).optional(),
    'com.docker.network.internal': z.boolean({ error: 'expected true or false' }).optional(),
    'com.docker.network.enable_ipv6': z.boolean({ error: 'expected true or false' }).optional(),
  }).loose())]).optional(),
  IPv4Data: z.union([boundedArray(IPAMData), z.null()]).optional(),
  IPv6Data: z.union([boundedArray(IPAMData), z.null()]).optional(),
}).loose();

export const NetworkIdRequest = z.object({ NetworkID: id }).loose();
export const DeleteNetworkRequest = NetworkIdRequest;
export const FreeNetworkRequest = NetworkIdRequest;

export const AllocateNetworkRequest = z.object({
  NetworkID: id,
  Options: z.union([z.null(), stringMap]).optional(),
  IPv4Data: z.union([boundedArray(IPAMData), z.null()]).optional(),
  IPv6Data: z.union([boundedArray(IPAMData), z.null()]).optional(),
}).loose();

export const EndpointInterface = z.object({
  Address: optionalCidr,
  AddressIPv6: optionalCidr,
  MacAddress: z.union([z.literal(''), mac]).optional(),
}).loose();

export const CreateEndpointRequest = z.object({
  NetworkID: id,
  EndpointID: id,
  Interface: z.union([EndpointInterface, z.null()]).optional(),
  Options: EndpointOptions,
}).loose();

export const EndpointRequest = z.object({ NetworkID: id, EndpointID: id }).loose();
export const EndpointOperInfoRequest = EndpointRequest;
export const DeleteEndpointRequest = EndpointRequest;
export const LeaveRequest = EndpointRequest;
export const RevokeExternalConnectivityRequest = EndpointRequest;

export const JoinRequest = z.object({
  NetworkID: id,
  EndpointID: id,
  SandboxKey: z.string({ error: 'expected the path of the sandbox network namespace' })
    .max(1024, { error: 'expected at most 1024 characters' })
    .regex(/^\/[^\0]*$/, { error: 'expected an absolute path such as /var/run/docker/netns/0123abcd' }),
  Options: EndpointOptions,
}).loose();

export const ProgramExternalConnectivityRequest = z.object({
  NetworkID: id,
  EndpointID: id,
  Options: EndpointOptions,
}).loose();

export const DiscoveryRequest = z.object({
  DiscoveryType: z.number({ error: 'expected a discovery type number' }).int(),
  DiscoveryData: z.unknown().optional(),
}).loose();

export const GetCapabilitiesRequest = noArguments;

// Replies.
const ok = z.object({}).loose();
export const CapabilitiesResponse = z.object({ Scope: z.enum(['local', 'global']), ConnectivityScope: z.enum(['local', 'global']).optional() });
export const CreateEndpointResponse = z.object({
  Interface: z.object({ Address: optionalCidr, AddressIPv6: optionalCidr, MacAddress: z.union([z.literal(''), mac]).optional() }).optional(),
});
export const EndpointOperInfoResponse = z.object({ Value: z.record(z.string(), z.unknown()) });
export const JoinResponse = z.object({
  InterfaceName: z.object({ SrcName: z.string().min(1), DstPrefix: z.string().min(1) }).optional(),
  Gateway: optionalIp,
  GatewayIPv6: optionalIp,
  StaticRoutes: z.array(z.object({ Destination: cidr, RouteType: z.union([z.literal(0), z.literal(1)]), NextHop: optionalIp })).optional(),
  DisableGatewayService: z.boolean().optional(),
});
export const AllocateNetworkResponse = z.object({ Options: z.record(z.string(), z.string()).optional() });
export const EmptyResponse = z.union([ok, errorResponse]);
