import type { z } from 'zod';
import * as s from './schemas.js';

/** The three interfaces of Docker's plugin protocol that tsnet speaks. */
export type PluginInterface = 'Plugin' | 'NetworkDriver' | 'IpamDriver';

/** One row of {@link methods}. */
export interface MethodSpec {
  /** The interface the method belongs to; Docker calls it only if Activate announced it. */
  readonly interface: PluginInterface;
  /** Schema of the request body (`undefined` stands for the empty body). */
  readonly request: z.ZodType;
  /** Schema of the success reply. Refusals are {@link refusalSchema}. */
  readonly response: z.ZodType;
  /** True when Docker sends no body (the request schema accepts empty, null and any object). */
  readonly noArguments: boolean;
}

function row<I extends PluginInterface, Req extends z.ZodType, Res extends z.ZodType, N extends boolean>(
  iface: I, request: Req, response: Res, noArguments: N,
): { readonly interface: I; readonly request: Req; readonly response: Res; readonly noArguments: N } {
  return { interface: iface, request, response, noArguments };
}

/**
 * Every method of the protocol, keyed by the name Docker posts to (`POST /<name>`), in the
 * order Docker first uses them. The API layer registers one route per row; tests and the
 * conformance suite iterate over it, so a method added here is covered everywhere.
 */
export const methods = {
  'Plugin.Activate': row('Plugin', s.ActivateRequest, s.ActivateResponse, true),
  'NetworkDriver.GetCapabilities': row('NetworkDriver', s.GetCapabilitiesRequest, s.GetCapabilitiesResponse, true),
  'NetworkDriver.GwAllocCheck': row('NetworkDriver', s.GwAllocCheckRequest, s.GwAllocCheckResponse, false),
  'NetworkDriver.CreateNetwork': row('NetworkDriver', s.CreateNetworkRequest, s.CreateNetworkResponse, false),
  'NetworkDriver.DeleteNetwork': row('NetworkDriver', s.DeleteNetworkRequest, s.DeleteNetworkResponse, false),
  'NetworkDriver.AllocateNetwork': row('NetworkDriver', s.AllocateNetworkRequest, s.AllocateNetworkResponse, false),
  'NetworkDriver.FreeNetwork': row('NetworkDriver', s.FreeNetworkRequest, s.FreeNetworkResponse, false),
  'NetworkDriver.CreateEndpoint': row('NetworkDriver', s.CreateEndpointRequest, s.CreateEndpointResponse, false),
  'NetworkDriver.EndpointOperInfo': row('NetworkDriver', s.EndpointOperInfoRequest, s.EndpointOperInfoResponse, false),
  'NetworkDriver.DeleteEndpoint': row('NetworkDriver', s.DeleteEndpointRequest, s.DeleteEndpointResponse, false),
  'NetworkDriver.Join': row('NetworkDriver', s.JoinRequest, s.JoinResponse, false),
  'NetworkDriver.Leave': row('NetworkDriver', s.LeaveRequest, s.LeaveResponse, false),
  'NetworkDriver.ProgramExternalConnectivity': row('NetworkDriver', s.ProgramExternalConnectivityRequest, s.ProgramExternalConnectivityResponse, false),
  'NetworkDriver.RevokeExternalConnectivity': row('NetworkDriver', s.RevokeExternalConnectivityRequest, s.RevokeExternalConnectivityResponse, false),
  'NetworkDriver.DiscoverNew': row('NetworkDriver', s.DiscoverNewRequest, s.DiscoverNewResponse, false),
  'NetworkDriver.DiscoverDelete': row('NetworkDriver', s.DiscoverDeleteRequest, s.DiscoverDeleteResponse, false),
  'IpamDriver.GetCapabilities': row('IpamDriver', s.IpamGetCapabilitiesRequest, s.IpamGetCapabilitiesResponse, true),
  'IpamDriver.GetDefaultAddressSpaces': row('IpamDriver', s.GetDefaultAddressSpacesRequest, s.GetDefaultAddressSpacesResponse, true),
  'IpamDriver.RequestPool': row('IpamDriver', s.RequestPoolRequest, s.RequestPoolResponse, false),
  'IpamDriver.ReleasePool': row('IpamDriver', s.ReleasePoolRequest, s.ReleasePoolResponse, false),
  'IpamDriver.RequestAddress': row('IpamDriver', s.RequestAddressRequest, s.RequestAddressResponse, false),
  'IpamDriver.ReleaseAddress': row('IpamDriver', s.ReleaseAddressRequest, s.ReleaseAddressResponse, false),
} as const satisfies Record<string, MethodSpec>;

/** A method name as Docker posts it, e.g. `'NetworkDriver.CreateNetwork'`. */
export type MethodName = keyof typeof methods;
/** The parsed request body of a method. */
export type RequestOf<M extends MethodName> = z.output<(typeof methods)[M]['request']>;
/** The success reply of a method. */
export type ResponseOf<M extends MethodName> = z.output<(typeof methods)[M]["response"]>;

/** All method names, in table order. */
export const methodNames = Object.keys(methods) as MethodName[];
/** The NetworkDriver methods, in the order Docker first uses them. */
export const networkDriverMethods = methodNames.filter((m) => methods[m].interface === 'NetworkDriver');
/** The IpamDriver methods, in the order Docker first uses them. */
export const ipamDriverMethods = methodNames.filter((m) => methods[m].interface === 'IpamDriver');

/** True when `name` is a method of the protocol (e.g. a URL path without its "/"). */
export function isMethodName(name: string): name is MethodName {
  return Object.hasOwn(methods, name);
}

/**
 * The shape of a refusal with HTTP 200 for `method`: `{Err}` for Plugin and NetworkDriver,
 * `{Error}` for IpamDriver, because libnetwork's IPAM client reads `Error` and would take a
 * 200 `{Err}` for success. Any non-200 reply carries `{Err}` (Docker's generic plugin client).
 */
export function refusalSchema(method: MethodName): typeof s.ErrorResponse | typeof s.IpamErrorResponse {
  return methods[method].interface === 'IpamDriver' ? s.IpamErrorResponse : s.ErrorResponse;
}

export { ErrorResponse, IpamErrorResponse } from './schemas.js';
