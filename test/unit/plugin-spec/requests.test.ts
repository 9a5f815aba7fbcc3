import { describe, expect, test } from 'vitest';
import { formatZodIssues } from '../../../plugin-spec/format.js';
import { methodNames, methods, type MethodName } from '../../../plugin-spec/methods.js';

const N = 'a'.repeat(64);
const E = 'b'.repeat(64);
const ids = { NetworkID: N, EndpointID: E };
const portmap = (binding: Record<string, unknown>) => ({ ...ids, Options: { 'com.docker.network.portmap': [{ Proto: 6, Port: 80, ...binding }] } });
const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']));

/** The message a schema gives, or 'ok'. */
function check(method: MethodName, body: unknown): string {
  const result = methods[method].request.safeParse(body);
  return result.success ? 'ok' : formatZodIssues(result.error);
}

type Case = readonly [body: unknown, message: RegExp];

/** Per method: bodies that must be refused, and the start of the message (field, then form). */
const refused: Record<Exclude<MethodName, 'Plugin.Activate' | 'NetworkDriver.GetCapabilities' | 'IpamDriver.GetCapabilities' | 'IpamDriver.GetDefaultAddressSpaces'>, Case[]> = {
  'NetworkDriver.GwAllocCheck': [
    [undefined, /^body: is required; expected a JSON object$/],
    [{ Options: 'x' }, /^Options: expected a map of options, got "x"$/],
    [{ Options: { 'com.docker.network.enable_ipv4': 'true' } }, /^Options\["com.docker.network.enable_ipv4"\]: expected true or false, got "true"$/],
    [{ Options: { 'com.docker.network.generic': { 'tsnet.type': ['overlay'] } } }, /^Options\["com.docker.network.generic"\]\["tsnet.type"\]: expected a string option value/],
  ],
  'NetworkDriver.CreateNetwork': [
    [{}, /^NetworkID: is required; expected a network id of 1 to 128/],
    [undefined, /^body: is required; expected a JSON object$/],
    [{ NetworkID: 42 }, /^NetworkID: expected a network id .*, got 42$/],
    [{ NetworkID: '' }, /^NetworkID: expected a non-empty network id, got ""$/],
    [{ NetworkID: 'x'.repeat(129) }, /^NetworkID: expected a network id of at most 128 characters, got "x{64}"… \(129 characters\)$/],
    [{ NetworkID: 'a/../b' }, /^NetworkID: expected a network id of 1 to 128 letters, digits, "_", "." or "-", got "a\/..\/b"$/],
    [{ NetworkID: N, IPv4Data: 'x' }, /^IPv4Data: expected a list of IPv4 pools, got "x"$/],
    [{ NetworkID: N, IPv4Data: [{ AddressSpace: 'x' }] }, /^IPv4Data\[0\]\.Pool: is required; expected an IPv4 or IPv6 address in CIDR form such as 10.0.0.1\/24$/],
    [{ NetworkID: N, IPv4Data: [{ Pool: '10.0.0.0' }] }, /^IPv4Data\[0\]\.Pool: expected an IPv4 or IPv6 address in CIDR form such as 10.0.0.1\/24, got "10.0.0.0"$/],
    [{ NetworkID: N, IPv4Data: [{ Pool: '10.0.0.0/24', Gateway: '10.0.0.1/40' }] }, /^IPv4Data\[0\]\.Gateway: expected an IPv4 or IPv6 address in CIDR form/],
    [{ NetworkID: N, IPv6Data: [{ Pool: 'fd00::/129' }] }, /^IPv6Data\[0\]\.Pool: expected an IPv4 or IPv6 address in CIDR form/],
    [{ NetworkID: N, IPv4Data: [{ Pool: '10.0.0.0/24', AuxAddresses: { a1: '10.0.0.5' } }] }, /^IPv4Data\[0\]\.AuxAddresses\.a1: expected an IPv4 or IPv6 address in CIDR form/],
    [{ NetworkID: N, IPv4Data: Array(1025).fill({ Pool: '10.0.0.0/24' }) }, /^IPv4Data: expected at most 1024 IPv4 pools, got an array of 1025 items$/],
    [{ NetworkID: N, Options: 'x' }, /^Options: expected a map of options, got "x"$/],
    [{ NetworkID: N, Options: { 'com.docker.network.internal': 'yes' } }, /^Options\["com.docker.network.internal"\]: expected true or false, got "yes"$/],
    [{ NetworkID: N, Options: { 'com.docker.network.generic': { mtu: { x: 1 } } } }, /^Options\["com.docker.network.generic"\]\.mtu: expected a string option value/],
    [{ NetworkID: N, Options: many(1025) }, /^Options: expected at most 1024 options, got 1025$/],
    [{ NetworkID: N, Options: { note: 'x'.repeat(4097) } }, /^Options\.note: expected an option value of at most 4096 characters/],
    [{ NetworkID: N, Options: { ['k'.repeat(257)]: 'v' } }, /^Options\["k{64}"…\]: expected an option name of at most 256 characters/],
  ],
  'NetworkDriver.DeleteNetwork': [[{}, /^NetworkID: is required/], [{ NetworkID: [] }, /^NetworkID: expected a network id .*, got an array of 0 items$/]],
  'NetworkDriver.AllocateNetwork': [
    [{}, /^NetworkID: is required/],
    [{ NetworkID: N, Options: { a: 1 } }, /^Options\.a: expected a string option value of at most 4096 characters, got 1$/],
    [{ NetworkID: N, Options: many(1025) }, /^Options: expected at most 1024 options, got 1025$/],
  ],
  'NetworkDriver.FreeNetwork': [[{}, /^NetworkID: is required/], [{ NetworkID: {} }, /^NetworkID: expected .*, got an object$/]],
  'NetworkDriver.CreateEndpoint': [
    [{ NetworkID: N }, /^EndpointID: is required; expected an endpoint id/],
    [{ NetworkID: N, EndpointID: 'e'.repeat(129) }, /^EndpointID: expected an endpoint id of at most 128 characters/],
    [{ ...ids, Interface: 'x' }, /^Interface: expected an interface object/],
    [{ ...ids, Interface: { Address: '10.0.0.2' } }, /^Interface\.Address: expected an IPv4 address in CIDR form such as 10.0.0.2\/24, got "10.0.0.2"$/],
    [{ ...ids, Interface: { Address: 'fd00::2/64' } }, /^Interface\.Address: expected an IPv4 address in CIDR form/],
    [{ ...ids, Interface: { AddressIPv6: '10.0.0.2/24' } }, /^Interface\.AddressIPv6: expected an IPv6 address in CIDR form such as fd00::2\/64/],
    [{ ...ids, Interface: { MacAddress: '02:42:0a:00:00' } }, /^Interface\.MacAddress: expected a MAC address of six hex pairs/],
    [{ ...ids, Interface: { MacAddress: 2 } }, /^Interface\.MacAddress: expected a MAC address .*, got 2$/],
    [{ ...ids, Options: { 'com.docker.network.endpoint.macaddress': '02:42:0a:c7:05:c8' } }, /^Options\["com.docker.network.endpoint.macaddress"\]: expected the base64 of a 6-byte MAC address/],
    [{ ...ids, Options: { 'com.docker.network.endpoint.exposedports': 'tcp/80' } }, /^Options\["com.docker.network.endpoint.exposedports"\]: expected a list of exposed ports, got "tcp\/80"$/],
    [{ ...ids, Options: { 'com.docker.network.endpoint.exposedports': [{ Proto: 99, Port: 80 }] } }, /\["com.docker.network.endpoint.exposedports"\]\[0\]\.Proto: expected protocol 6 \(tcp\), 17 \(udp\) or 132 \(sctp\), got 99$/],
    [portmap({ Port: 70000 }), /^Options\["com.docker.network.portmap"\]\[0\]\.Port: expected a port number, an integer from 0 to 65535, got 70000$/],
  ],
  'NetworkDriver.EndpointOperInfo': [[{ NetworkID: N }, /^EndpointID: is required/], [{ NetworkID: N, EndpointID: 5 }, /^EndpointID: expected .*, got 5$/]],
  'NetworkDriver.DeleteEndpoint': [[{ EndpointID: E }, /^NetworkID: is required/], [{ NetworkID: '', EndpointID: E }, /^NetworkID: expected a non-empty network id/]],
  'NetworkDriver.Join': [
    [ids, /^SandboxKey: is required; expected an absolute path such as \/var\/run\/docker\/netns\/0123abcd$/],
    [{ ...ids, SandboxKey: 'var/run/docker/netns/x' }, /^SandboxKey: expected an absolute path .*, got "var\/run\/docker\/netns\/x"$/],
    [{ ...ids, SandboxKey: `/${'p'.repeat(1024)}` }, /^SandboxKey: expected a path of at most 1024 characters/],
    [{ ...ids, SandboxKey: '/x', Options: { 'com.docker.network.portmap': [{ Proto: 'tcp', Port: 80 }] } }, /\[0\]\.Proto: expected protocol 6 \(tcp\), 17 \(udp\) or 132 \(sctp\), got "tcp"$/],
  ],
  'NetworkDriver.Leave': [[{ NetworkID: N }, /^EndpointID: is required/], [{ NetworkID: true, EndpointID: E }, /^NetworkID: expected .*, got true$/]],
  'NetworkDriver.ProgramExternalConnectivity': [
    [{ NetworkID: N }, /^EndpointID: is required/],
    [{ ...ids, Options: [] }, /^Options: expected a map of options, got an array of 0 items$/],
    [portmap({ Proto: 99 }), /^Options\["com.docker.network.portmap"\]\[0\]\.Proto: expected protocol 6 \(tcp\), 17 \(udp\) or 132 \(sctp\), got 99$/],
    [portmap({ HostPort: 70000 }), /^Options\["com.docker.network.portmap"\]\[0\]\.HostPort: expected a port number, an integer from 0 to 65535, got 70000$/],
    [portmap({ Port: 80.5 }), /\[0\]\.Port: expected a port number, an integer from 0 to 65535, got 80.5$/],
    [portmap({ HostIP: 'localhost' }), /\[0\]\.HostIP: expected an IPv4 or IPv6 address such as 10.0.0.1, got "localhost"$/],
    [{ ...ids, Options: { 'com.docker.network.portmap': Array(1025).fill({ Proto: 6, Port: 1 }) } }, /^Options\["com.docker.network.portmap"\]: expected at most 1024 port bindings/],
  ],
  'NetworkDriver.RevokeExternalConnectivity': [[{ EndpointID: E }, /^NetworkID: is required/], [{ NetworkID: N, EndpointID: null }, /^EndpointID: expected .*, got null$/]],
  'NetworkDriver.DiscoverNew': [
    [{}, /^DiscoveryType: is required; expected a discovery type number \(1 = node\)$/],
    [{ DiscoveryType: 'node' }, /^DiscoveryType: expected a discovery type number \(1 = node\), got "node"$/],
    [{ DiscoveryType: 1, DiscoveryData: { Self: 'yes' } }, /^DiscoveryData\.Self: expected true or false, got "yes"$/],
  ],
  'NetworkDriver.DiscoverDelete': [[{ DiscoveryData: {} }, /^DiscoveryType: is required/], [{ DiscoveryType: 1.5 }, /^DiscoveryType: expected .*, got 1.5$/]],
  'IpamDriver.RequestPool': [
    [{}, /^AddressSpace: is required; expected an address space name such as LocalDefault$/],
    [{ AddressSpace: 5 }, /^AddressSpace: expected an address space name .*, got 5$/],
    [{ AddressSpace: 'x', Pool: '10.0.0.0/33' }, /^Pool: expected an IPv4 or IPv6 address in CIDR form such as 10.0.0.1\/24, got "10.0.0.0\/33"$/],
    [{ AddressSpace: 'x', Pool: '10.0.0.0/24', SubPool: '10.0.0.128' }, /^SubPool: expected an IPv4 or IPv6 address in CIDR form/],
    [{ AddressSpace: 'x', Options: { io: 5 } }, /^Options\.io: expected a string option value/],
    [{ AddressSpace: 'x', V6: 'true' }, /^V6: expected true or false, got "true"$/],
  ],
  'IpamDriver.ReleasePool': [[{}, /^PoolID: is required/], [{ PoolID: 'p'.repeat(257) }, /^PoolID: expected a pool id of 1 to 256 characters/]],
  'IpamDriver.RequestAddress': [
    [{ Address: '10.0.0.1' }, /^PoolID: is required/],
    [{ PoolID: 'p', Address: '10.0.0.300' }, /^Address: expected an IPv4 or IPv6 address such as 10.0.0.1, got "10.0.0.300"$/],
    [{ PoolID: 'p', Address: '10.0.0.3/24' }, /^Address: expected an IPv4 or IPv6 address such as 10.0.0.1, got "10.0.0.3\/24"$/],
    [{ PoolID: 'p', Options: { RequestAddressType: ['x'] } }, /^Options\.RequestAddressType: expected a string option value/],
  ],
  'IpamDriver.ReleaseAddress': [[{ PoolID: 'p' }, /^Address: is required; expected an IPv4 or IPv6 address/], [{ PoolID: 'p', Address: '' }, /^Address: expected an IPv4 or IPv6 address .*, got ""$/]],
};

describe('bad requests are refused with a message naming the field and the expected form', () => {
  test('every method with arguments has cases for a missing field and a wrong type', () => {
    const withArguments = methodNames.filter((m) => !methods[m].noArguments);
    expect(Object.keys(refused).sort()).toEqual([...withArguments].sort());
    for (const [method, cases] of Object.entries(refused)) {
      expect(cases.some(([, message]) => message.source.includes('is required')), method).toBe(true);
      expect(cases.length, method).toBeGreaterThanOrEqual(2);
    }
  });

  for (const [method, cases] of Object.entries(refused) as Array<[MethodName, Case[]]>) {
    test.each(cases.map(([body, message]) => [JSON.stringify(body)?.slice(0, 100) ?? 'no body', body, message] as const))(`${method} %s`, (_label, body, message) => {
      expect(check(method, body)).toMatch(message);
    });
  }

  test('every method with arguments refuses non-object bodies', () => {
    for (const method of methodNames.filter((m) => !methods[m].noArguments)) {
      for (const body of [[], 'text', 42, true, null]) expect(check(method, body), `${method} ${JSON.stringify(body)}`).toMatch(/^body: expected a JSON object, got /);
    }
  });

  test('methods without arguments accept nothing, null and any object, and refuse the rest', () => {
    for (const method of methodNames.filter((m) => methods[m].noArguments)) {
      for (const body of [undefined, null, {}, { Extra: 1 }]) expect(check(method, body), method).toBe('ok');
      expect(check(method, 'hello')).toBe('body: expected an empty body, null or a JSON object, got "hello"');
      expect(check(method, [1])).toMatch(/^body: expected an empty body, null or a JSON object, got an array of 1 item$/);
    }
  });

  test('messages are capped and never echo the body', () => {
    const secret = `secret-token-${'z'.repeat(200)}`;
    const body = { NetworkID: secret, EndpointID: 8, SandboxKey: 9, Options: { 'com.docker.network.portmap': secret }, Interface: 'x' };
    const message = check('NetworkDriver.Join', body);
    expect(message).not.toContain('z'.repeat(65));
    expect(message.length).toBeLessThan(700);
    const everything = check('NetworkDriver.CreateNetwork', { NetworkID: 1, IPv4Data: Array.from({ length: 50 }, () => ({ Pool: secret })) });
    expect(everything).toMatch(/; and \d+ more problems$/);
    expect(everything.split('; ')).toHaveLength(6);
  });
});
