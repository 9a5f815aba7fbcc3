import { z } from 'zod';
import { Bool, Cidr, CidrOrEmpty, Ip, IpOrEmpty, LIMITS, NoArguments, StringMap, expected, goStruct, name, request } from './common.js';

/**
 * IpamDriver requests and replies (libnetwork ipams/remote/api/api.go, docs/ipam.md), shapes as
 * dockerd 20.10 sends them (plugin-spec/fixtures). Unlike the NetworkDriver, every Options here
 * is Go's map[string]string (null when Docker has none), and addresses in requests are bare IPs
 * while addresses in replies are in CIDR form.
 */

/**
 * A pool id chosen by the IPAM plugin in its RequestPool reply and echoed back by Docker;
 * Docker's own look like `LocalDefault/10.199.5.0/24/10.199.5.128/25`, so "/" and ":" occur.
 */
export const PoolId = name(LIMITS.poolId, `expected a pool id of 1 to ${LIMITS.poolId} characters`)
  .regex(/^[^\0-\x1f]*$/, { error: expected('expected a pool id without control characters') });

/** At registration: RequiresMACAddress and RequiresRequestReplay. 404 means "none". */
export const IpamGetCapabilitiesRequest = NoArguments;
export type IpamGetCapabilitiesRequest = z.infer<typeof IpamGetCapabilitiesRequest>;

/** At registration: the names of the local and global default address spaces. */
export const GetDefaultAddressSpacesRequest = NoArguments;
export type GetDefaultAddressSpacesRequest = z.infer<typeof GetDefaultAddressSpacesRequest>;

/**
 * `docker network create` (once per subnet, V6 for the IPv6 one), and again at dockerd start
 * when RequiresRequestReplay. Pool "" asks the plugin to choose; SubPool is `--ip-range` and
 * must be refused without Pool; Options carry `--ipam-opt`, plus what Docker adds itself:
 * swarm's allocator sets `com.docker.network.ipam.serial: "true"` (and leaves
 * `RequestAddressType` in the map it reuses for a network's next pool). Identical calls with a
 * Pool must return the same pool (reference-counted).
 *
 * Docker's overlap-retry loop (libnetwork ipams/remote/remote.go RequestPool, requestPoolHelper
 * in network.go before v27): when the pool chosen for a `Pool: ""` request overlaps a route of
 * the host, Docker keeps that pool and sends the identical request again, as often as it takes,
 * releasing the kept pools only once a pool does not overlap or the plugin refuses. The loop
 * has no bound and is skipped only for an explicit Pool and for the plugin's global default
 * address space, so a plugin must never answer a `Pool: ""` request with a pool it already
 * handed out, and must refuse once it has none left.
 */
export const RequestPoolRequest = request({
  AddressSpace: name(LIMITS.name, 'expected an address space name such as LocalDefault'),
  Pool: CidrOrEmpty.optional(),
  SubPool: CidrOrEmpty.optional(),
  Options: StringMap.nullish(),
  V6: Bool.optional(),
});
export type RequestPoolRequest = z.infer<typeof RequestPoolRequest>;

/** `docker network rm`, and the rollback of a failed create. */
export const ReleasePoolRequest = request({ PoolID: PoolId });
export type ReleasePoolRequest = z.infer<typeof ReleasePoolRequest>;

/**
 * Address "" asks for any free address, a bare IP for exactly that one (`--ip`, `--gateway`,
 * aux addresses). The gateway request carries Options `{"RequestAddressType":
 * "com.docker.network.gateway"}`; other requests carry `Options: null` up to Docker 28. Docker
 * 29 puts the endpoint's name in every container's request (`com.docker.network.endpoint.name`,
 * libnetwork network.go), adds `com.docker.network.endpoint.macaddress` for an IPAM that
 * announces RequiresMACAddress, and swarm passes the network's `--ipam-opt` and
 * `com.docker.network.ipam.serial` here too; so every key must be accepted.
 */
export const RequestAddressRequest = request({
  PoolID: PoolId,
  Address: IpOrEmpty.optional(),
  Options: StringMap.nullish(),
});
export type RequestAddressRequest = z.infer<typeof RequestAddressRequest>;

/** Container stop/removal, network rm (gateway and aux addresses): a bare IP. */
export const ReleaseAddressRequest = request({ PoolID: PoolId, Address: Ip });
export type ReleaseAddressRequest = z.infer<typeof ReleaseAddressRequest>;

/**
 * IPAM success replies, as libnetwork's IPAM client decodes them (ipams/remote/api): Go
 * structs, so keys match case-insensitively, unknown keys are ignored (`Err` among them, see
 * {@link IpamErrorResponse}) and null counts as absent. `Error` must be empty or absent.
 */
function ipamReply<S extends z.ZodRawShape>(shape: S) {
  return goStruct({ ...shape, Error: z.literal('').optional() }, 'expected a JSON object');
}

const Data = StringMap.nullish();

export const IpamGetCapabilitiesResponse = ipamReply({ RequiresMACAddress: Bool.optional(), RequiresRequestReplay: Bool.optional() });
export type IpamGetCapabilitiesResponse = z.infer<typeof IpamGetCapabilitiesResponse>;

export const GetDefaultAddressSpacesResponse = ipamReply({
  LocalDefaultAddressSpace: name(LIMITS.name, 'expected an address space name'),
  GlobalDefaultAddressSpace: name(LIMITS.name, 'expected an address space name'),
});
export type GetDefaultAddressSpacesResponse = z.infer<typeof GetDefaultAddressSpacesResponse>;

export const RequestPoolResponse = ipamReply({ PoolID: PoolId, Pool: Cidr, Data });
export type RequestPoolResponse = z.infer<typeof RequestPoolResponse>;

export const ReleasePoolResponse = ipamReply({});
export type ReleasePoolResponse = z.infer<typeof ReleasePoolResponse>;

/** The address in CIDR form, prefix length of the pool (`10.199.5.2/24`). */
export const RequestAddressResponse = ipamReply({ Address: Cidr, Data });
export type RequestAddressResponse = z.infer<typeof RequestAddressResponse>;

export const ReleaseAddressResponse = ipamReply({});
export type ReleaseAddressResponse = z.infer<typeof ReleaseAddressResponse>;

/**
 * An IPAM refusal with HTTP 200. libnetwork's IPAM client reads the field `Error`, not `Err`
 * (ipams/remote/api.Response): a 200 reply carrying only `Err` is taken as SUCCESS, with an
 * empty pool or address. Non-200 replies are read by Docker's generic plugin client, which
 * reads `Err` for every interface (see `ErrorResponse`).
 */
export const IpamErrorResponse = goStruct({ Error: name(LIMITS.value, 'expected a non-empty error message') }, 'expected a JSON object with Error')
  .meta({ description: 'IPAM refusal with HTTP 200: Docker reads Error (not Err, matched case-insensitively) from IpamDriver replies' });
export type IpamErrorResponse = z.infer<typeof IpamErrorResponse>;
