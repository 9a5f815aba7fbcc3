import { z } from 'zod';
import { cidr, ip, noArguments, optionsMap, text } from './common.js';

/** IpamDriver requests and replies (libnetwork ipams/remote/api/api.go). */

export const RequestPoolRequest = z.object({
  AddressSpace: text,
  Pool: z.union([z.literal(''), cidr]).optional(),
  SubPool: z.union([z.literal(''), cidr]).optional(),
  Options: z.union([z.null(), optionsMap]).optional(),
  V6: z.boolean({ error: 'expected true or false' }).optional(),
}).loose();

/** Docker's pool ids look like "<space>/<pool>/<subpool>", e.g. LocalDefault/10.0.0.0/24/. */
const poolId = z.string({ error: 'expected a pool id' }).min(1, { error: 'must not be empty' }).max(256, { error: 'expected at most 256 characters' });

export const ReleasePoolRequest = z.object({ PoolID: poolId }).loose();

export const RequestAddressRequest = z.object({
  PoolID: poolId,
  Address: z.union([z.literal(''), ip]).optional(),
  Options: z.union([z.null(), optionsMap]).optional(),
}).loose();

export const ReleaseAddressRequest = z.object({ PoolID: poolId, Address: ip }).loose();

export const IpamGetCapabilitiesRequest = noArguments;
export const GetDefaultAddressSpacesRequest = noArguments;

export const IpamCapabilitiesResponse = z.object({ RequiresMACAddress: z.boolean().optional(), RequiresRequestReplay: z.boolean().optional() });
export const GetDefaultAddressSpacesResponse = z.object({ LocalDefaultAddressSpace: z.string(), GlobalDefaultAddressSpace: z.string() });
export const RequestPoolResponse = z.object({ PoolID: z.string(), Pool: cidr, Data: z.record(z.string(), z.string()).optional() });
export const RequestAddressResponse = z.object({ Address: cidr, Data: z.record(z.string(), z.string()).optional() });

