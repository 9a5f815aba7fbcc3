import { z } from 'zod';
import {
  Bool, Cidr, Cidr4OrEmpty, Cidr6OrEmpty, EmptyResponse, Ipv4OrEmpty, Ipv6OrEmpty, IpOrEmpty, LIMITS, MacOrEmpty,
  StringMap, expected, goStruct, list, name, optionsObject, reply,
} from './common.js';
import { OPTION, PortBinding, TransportPort } from './network.js';

/**
 * NetworkDriver success replies, as libnetwork's remote driver decodes and checks them
 * (drivers/remote/driver.go): Go structs, so keys match case-insensitively, unknown keys are
 * ignored and null counts as absent (see go-json.ts); values are held to what Docker then
 * parses. Used by tests and the conformance suite to hold a plugin to what Docker will accept;
 * the daemon itself builds its replies from typed domain values.
 */

const SCOPE = 'expected "local" or "global"';

/**
 * Scope decides where Docker keeps the network: "global" needs swarm (or the cluster store
 * removed in Docker 23); Docker refuses any other value, "" included, so it is required here.
 * ConnectivityScope defaults to Scope when absent or "". GwAllocChecker (Docker 28+) asks
 * Docker to send NetworkDriver.GwAllocCheck before each CreateNetwork; older dockerd ignore it.
 */
export const GetCapabilitiesResponse = reply({
  Scope: z.enum(['local', 'global'], { error: expected(SCOPE) }),
  ConnectivityScope: z.enum(['local', 'global', ''], { error: expected(SCOPE) }).optional(),
  GwAllocChecker: Bool.optional(),
});
export type GetCapabilitiesResponse = z.infer<typeof GetCapabilitiesResponse>;

/**
 * SkipIPv4/SkipIPv6 true: Docker requests no gateway address of that family from the IPAM
 * (unless the user gave `--gateway`). Absent or false: it does, as without GwAllocCheck.
 */
export const GwAllocCheckResponse = reply({ SkipIPv4: Bool.optional(), SkipIPv6: Bool.optional() });
export type GwAllocCheckResponse = z.infer<typeof GwAllocCheckResponse>;

export const CreateNetworkResponse = EmptyResponse;
export type CreateNetworkResponse = z.infer<typeof CreateNetworkResponse>;
export const DeleteNetworkResponse = EmptyResponse;
export type DeleteNetworkResponse = z.infer<typeof DeleteNetworkResponse>;

/** Options are handed to CreateNetwork on every node of the swarm. */
export const AllocateNetworkResponse = reply({ Options: StringMap.nullish() });
export type AllocateNetworkResponse = z.infer<typeof AllocateNetworkResponse>;
export const FreeNetworkResponse = EmptyResponse;
export type FreeNetworkResponse = z.infer<typeof FreeNetworkResponse>;

/**
 * A field may be set only where Docker's request left it "": Docker applies each non-empty one
 * to the endpoint and fails ("driver modified interface address") if it already had a value.
 */
export const CreateEndpointResponse = reply({
  Interface: goStruct({
    Address: Cidr4OrEmpty.optional(),
    AddressIPv6: Cidr6OrEmpty.optional(),
    MacAddress: MacOrEmpty.optional(),
  }, 'expected an interface object {Address, AddressIPv6, MacAddress}').optional(),
});
export type CreateEndpointResponse = z.infer<typeof CreateEndpointResponse>;

/** Free-form driver data about the endpoint; the port lists, if present, have Docker's shapes. */
export const EndpointOperInfoResponse = reply({
  Value: optionsObject({
    [OPTION.portmap]: list(PortBinding, 'port bindings').nullish(),
    [OPTION.exposedPorts]: list(TransportPort, 'exposed ports').nullish(),
  }).nullish(),
});
export type EndpointOperInfoResponse = z.infer<typeof EndpointOperInfoResponse>;

export const DeleteEndpointResponse = EmptyResponse;
export type DeleteEndpointResponse = z.infer<typeof DeleteEndpointResponse>;

/** Linux interface names are at most 15 bytes (IFNAMSIZ - 1) and contain no "/" or whitespace. */
const IFNAME = 'expected an interface name of 1 to 15 characters without "/" or spaces';
const InterfaceNameText = name(15, IFNAME).regex(/^[^/\s]*$/, { error: expected(IFNAME) });

/**
 * The interface Docker moves into the sandbox: SrcName names it on the host, Docker renames it
 * DstPrefix + index (eth0). Gateways here are bare addresses (Docker parses them with
 * net.ParseIP), unlike CreateNetwork's CIDR-form Gateway.
 */
export const JoinResponse = reply({
  InterfaceName: goStruct({
    SrcName: InterfaceNameText,
    DstPrefix: name(LIMITS.name, 'expected an interface name prefix such as eth'),
    // A field of libnetwork's Go struct whose value Docker drops: it hands remote drivers'
    // names to SetNames(SrcName, DstPrefix, ""), so com.docker.network.endpoint.ifname cannot
    // be honoured by any remote driver (drivers/remote/driver.go, 28.5 and master).
    DstName: z.string().max(15).optional(),
  }, 'expected {SrcName, DstPrefix}').optional(),
  Gateway: Ipv4OrEmpty.optional(),
  GatewayIPv6: Ipv6OrEmpty.optional(),
  StaticRoutes: list(goStruct({
    Destination: Cidr,
    RouteType: z.literal([0, 1], { error: expected('expected route type 0 (via NextHop) or 1 (connected)') }),
    NextHop: IpOrEmpty.optional(),
  }, 'expected a route {Destination, RouteType, NextHop}'), 'routes').optional(),
  DisableGatewayService: Bool.optional(),
});
export type JoinResponse = z.infer<typeof JoinResponse>;

export const LeaveResponse = EmptyResponse;
export type LeaveResponse = z.infer<typeof LeaveResponse>;
export const ProgramExternalConnectivityResponse = EmptyResponse;
export type ProgramExternalConnectivityResponse = z.infer<typeof ProgramExternalConnectivityResponse>;
export const RevokeExternalConnectivityResponse = EmptyResponse;
export type RevokeExternalConnectivityResponse = z.infer<typeof RevokeExternalConnectivityResponse>;
/** Docker does not accept 404 for the discovery calls: a plugin must answer `{}`. */
export const DiscoverNewResponse = EmptyResponse;
export type DiscoverNewResponse = z.infer<typeof DiscoverNewResponse>;
export const DiscoverDeleteResponse = EmptyResponse;
export type DiscoverDeleteResponse = z.infer<typeof DiscoverDeleteResponse>;
