/**
 * Docker's remote plugin protocol as zod schemas: one request and one reply schema per method
 * of Plugin, NetworkDriver and IpamDriver, with the TypeScript types inferred from them. Field
 * names are Docker's, verbatim; `methods.ts` maps method names to these schemas.
 */
export * from './schemas/common.js';
export * from './schemas/plugin.js';
export * from './schemas/network.js';
export * from './schemas/network-replies.js';
export * from './schemas/ipam.js';
