import type { MethodName } from '../methods.js';

/** A well-formed JSON body that is wrong, and the field (as formatZodIssues prints its path) the refusal must name. */
export interface BadRequest {
  readonly body: unknown;
  readonly field: string;
}

const ID = 'c0'.repeat(32);
const ids = { NetworkID: ID, EndpointID: ID };
const portmap = (binding: Record<string, unknown>) => ({ ...ids, Options: { 'com.docker.network.portmap': [{ Proto: 6, Port: 80, ...binding }] } });
const PORTMAP0 = 'Options["com.docker.network.portmap"][0]';

/**
 * For every method with arguments: missing fields, wrong types (a number for a string, a
 * string for a list), malformed addresses, over-long ids, oversized lists, impossible ports.
 * Each body has exactly one thing wrong and must be refused before it changes anything, so the
 * suite can run against a live plugin without creating networks or endpoints.
 */
export const badRequests: Readonly<Partial<Record<MethodName, readonly BadRequest[]>>> = {
  'NetworkDriver.GwAllocCheck': [
    { body: { Options: 'x' }, field: 'Options' },
    { body: { Options: { 'com.docker.network.enable_ipv6': 'yes' } }, field: 'Options["com.docker.network.enable_ipv6"]' },
  ],
  'NetworkDriver.CreateNetwork': [
    { body: {}, field: 'NetworkID' },
    { body: { NetworkID: 5 }, field: 'NetworkID' },
    { body: { NetworkID: 'x'.repeat(300) }, field: 'NetworkID' },
    { body: { NetworkID: 'a/../b' }, field: 'NetworkID' },
    { body: { NetworkID: ID, IPv4Data: 'x' }, field: 'IPv4Data' },
    { body: { NetworkID: ID, IPv4Data: [{ AddressSpace: 'x', Pool: 'nope' }] }, field: 'IPv4Data[0].Pool' },
    { body: { NetworkID: ID, IPv4Data: [{ AddressSpace: 'x', Pool: '10.0.0.0/24', Gateway: '10.0.0.1' }] }, field: 'IPv4Data[0].Gateway' },
    { body: { NetworkID: ID, IPv6Data: [{ AddressSpace: 'x', Pool: 'fd00::/129' }] }, field: 'IPv6Data[0].Pool' },
    { body: { NetworkID: ID, IPv4Data: Array.from({ length: 1025 }, () => ({ Pool: '10.0.0.0/24' })) }, field: 'IPv4Data' },
    { body: { NetworkID: ID, Options: { 'com.docker.network.internal': 'yes' } }, field: 'Options["com.docker.network.internal"]' },
    { body: { NetworkID: ID, Options: Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [`o${i}`, 'v'])) }, field: 'Options' },
  ],
  'NetworkDriver.DeleteNetwork': [{ body: {}, field: 'NetworkID' }, { body: { NetworkID: [] }, field: 'NetworkID' }],
  'NetworkDriver.AllocateNetwork': [{ body: {}, field: 'NetworkID' }, { body: { NetworkID: ID, Options: { a: 1 } }, field: 'Options.a' }],
  'NetworkDriver.FreeNetwork': [{ body: { NetworkID: {} }, field: 'NetworkID' }, { body: { NetworkID: '' }, field: 'NetworkID' }],
  'NetworkDriver.CreateEndpoint': [
    { body: { NetworkID: ID }, field: 'EndpointID' },
    { body: { NetworkID: ID, EndpointID: 'e'.repeat(129) }, field: 'EndpointID' },
    { body: { ...ids, Interface: 'x' }, field: 'Interface' },
    { body: { ...ids, Interface: { Address: '10.0.0.2' } }, field: 'Interface.Address' },
    { body: { ...ids, Interface: { AddressIPv6: '10.0.0.2/24' } }, field: 'Interface.AddressIPv6' },
    { body: { ...ids, Interface: { MacAddress: 'xyz' } }, field: 'Interface.MacAddress' },
    { body: portmap({ Proto: 99 }), field: `${PORTMAP0}.Proto` },
  ],
  'NetworkDriver.EndpointOperInfo': [{ body: { NetworkID: ID }, field: 'EndpointID' }, { body: { NetworkID: ID, EndpointID: 7 }, field: 'EndpointID' }],
  'NetworkDriver.DeleteEndpoint': [{ body: { EndpointID: ID }, field: 'NetworkID' }],
  'NetworkDriver.Join': [
    { body: ids, field: 'SandboxKey' },
    { body: { ...ids, SandboxKey: 'relative/netns' }, field: 'SandboxKey' },
    { body: { ...ids, SandboxKey: 42 }, field: 'SandboxKey' },
  ],
  'NetworkDriver.Leave': [{ body: { NetworkID: true, EndpointID: ID }, field: 'NetworkID' }, { body: { NetworkID: ID }, field: 'EndpointID' }],
  'NetworkDriver.ProgramExternalConnectivity': [
    { body: { NetworkID: ID }, field: 'EndpointID' },
    { body: { ...ids, Options: 'x' }, field: 'Options' },
    { body: { ...ids, Options: { 'com.docker.network.portmap': 'x' } }, field: 'Options["com.docker.network.portmap"]' },
    { body: portmap({ Proto: 99 }), field: `${PORTMAP0}.Proto` },
    { body: portmap({ Port: 70000 }), field: `${PORTMAP0}.Port` },
    { body: portmap({ HostPort: 70000 }), field: `${PORTMAP0}.HostPort` },
    { body: portmap({ HostIP: 'localhost' }), field: `${PORTMAP0}.HostIP` },
  ],
  'NetworkDriver.RevokeExternalConnectivity': [{ body: { NetworkID: ID }, field: 'EndpointID' }],
  'NetworkDriver.DiscoverNew': [{ body: {}, field: 'DiscoveryType' }, { body: { DiscoveryType: 'node' }, field: 'DiscoveryType' }],
  'NetworkDriver.DiscoverDelete': [{ body: { DiscoveryData: {} }, field: 'DiscoveryType' }],
  'IpamDriver.RequestPool': [
    { body: {}, field: 'AddressSpace' },
    { body: { AddressSpace: 5 }, field: 'AddressSpace' },
    { body: { AddressSpace: 'x', Pool: '10.0.0.0/99' }, field: 'Pool' },
    { body: { AddressSpace: 'x', Pool: '10.0.0.0/24', SubPool: '10.0.0.128' }, field: 'SubPool' },
    { body: { AddressSpace: 'x', V6: 'yes' }, field: 'V6' },
  ],
  'IpamDriver.ReleasePool': [{ body: {}, field: 'PoolID' }, { body: { PoolID: 3 }, field: 'PoolID' }],
  'IpamDriver.RequestAddress': [
    { body: { Address: '10.0.0.1' }, field: 'PoolID' },
    { body: { PoolID: 'p', Address: 'nope' }, field: 'Address' },
    { body: { PoolID: 'p', Address: '10.0.0.1/24' }, field: 'Address' },
  ],
  'IpamDriver.ReleaseAddress': [{ body: { PoolID: 'p' }, field: 'Address' }, { body: { PoolID: 'p', Address: 10 }, field: 'Address' }],
};

/** Bodies that are not JSON at all. */
export const unparseableBodies: readonly string[] = ['{"NetworkID": ', 'nul', '{]', '\u0000'];

/** JSON bodies of the wrong top-level type for a method with arguments. */
export const wrongTopLevelBodies: readonly string[] = ['[]', '"text"', '42', 'true', 'null'];

/** Methods that no plugin implements; each must get 404 (Docker's "not implemented"). */
export const unknownMethods: readonly string[] = ['NetworkDriver.NoSuchMethod', 'IpamDriver.Frobnicate', 'Nope.Activate'];
