import { z } from 'zod';
import { errorResponse, noArguments } from './common.js';
import * as ipam from './ipam.js';
import * as net from './network.js';

/** Every method of the protocol: which interface it belongs to and its request/reply schemas. */
export const methods = {
  'Plugin.Activate': { interface: 'Plugin', request: noArguments, response: z.object({ Implements: z.array(z.string()) }), noArguments: true },
  'NetworkDriver.GetCapabilities': { interface: 'NetworkDriver', request: net.GetCapabilitiesRequest, response: net.CapabilitiesResponse, noArguments: true },
  'NetworkDriver.CreateNetwork': { interface: 'NetworkDriver', request: net.CreateNetworkRequest, response: net.EmptyResponse, noArguments: false },
  'NetworkDriver.DeleteNetwork': { interface: 'NetworkDriver', request: net.DeleteNetworkRequest, response: net.EmptyResponse, noArguments: false },
  'NetworkDriver.AllocateNetwork': { interface: 'NetworkDriver', request: net.AllocateNetworkRequest, response: net.AllocateNetworkResponse, noArguments: false },
  'NetworkDriver.FreeNetwork': { interface: 'NetworkDriver', request: net.FreeNetworkRequest, response: net.EmptyResponse, noArguments: false },
  'NetworkDriver.CreateEndpoint': { interface: 'NetworkDriver', request: net.CreateEndpointRequest, response: net.CreateEndpointResponse, noArguments: false },
  'NetworkDriver.EndpointOperInfo': { interface: 'NetworkDriver', request: net.EndpointOperInfoRequest, response: net.EndpointOperInfoResponse, noArguments: false },
  'NetworkDriver.DeleteEndpoint': { interface: 'NetworkDriver', request: net.DeleteEndpointRequest, response: net.EmptyResponse, noArguments: false },
  'NetworkDriver.Join': { interface: 'NetworkDriver', request: net.JoinRequest, response: net.JoinResponse, noArguments: false },
  'NetworkDriver.Leave': { interface: 'NetworkDriver', request: net.LeaveRequest, response: net.EmptyResponse, noArguments: false },
  'NetworkDriver.ProgramExternalConnectivity': { interface: 'NetworkDriver', request: net.ProgramExternalConnectivityRequest, response: net.EmptyResponse, noArguments: false },
  'NetworkDriver.RevokeExternalConnectivity': { interface: 'NetworkDriver', request: net.RevokeExternalConnectivityRequest, response: net.EmptyResponse, noArguments: false },
  'NetworkDriver.DiscoverNew': { interface: 'NetworkDriver', request: net.DiscoveryRequest, response: net.EmptyResponse, noArguments: false },
  'NetworkDriver.DiscoverDelete': { interface: 'NetworkDriver', request: net.DiscoveryRequest, response: net.EmptyResponse, noArguments: false },
  'IpamDriver.GetCapabilities': { interface: 'IpamDriver', request: ipam.IpamGetCapabilitiesRequest, response: ipam.IpamCapabilitiesResponse, noArguments: true },
  'IpamDriver.GetDefaultAddressSpaces': { interface: 'IpamDriver', request: ipam.GetDefaultAddressSpacesRequest, response: ipam.GetDefaultAddressSpacesResponse, noArguments: true },
  'IpamDriver.RequestPool': { interface: 'IpamDriver', request: ipam.RequestPoolRequest, response: ipam.RequestPoolResponse, noArguments: false },
  'IpamDriver.ReleasePool': { interface: 'IpamDriver', request: ipam.ReleasePoolRequest, response: net.EmptyResponse, noArguments: false },
  'IpamDriver.RequestAddress': { interface: 'IpamDriver', request: ipam.RequestAddressRequest, response: ipam.RequestAddressResponse, noArguments: false },
  'IpamDriver.ReleaseAddress': { interface: 'IpamDriver', request: ipam.ReleaseAddressRequest, response: net.EmptyResponse, noArguments: false },
} as const satisfies Record<string, { interface: 'Plugin' | 'NetworkDriver' | 'IpamDriver'; request: z.ZodType; response: z.ZodType; noArguments: boolean }>;

export type MethodName = keyof typeof methods;
export type RequestOf<M extends MethodName> = z.output<(typeof methods)[M]['request']>;

export const methodNames = Object.keys(methods) as MethodName[];
export const networkDriverMethods = methodNames.filter((m) => methods[m].interface === 'NetworkDriver');
export const ipamDriverMethods = methodNames.filter((m) => methods[m].interface === 'IpamDriver');
export { errorResponse };
