import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { formatZodIssues } from '../../../plugin-spec/format.js';
import { methods, type MethodName } from '../../../plugin-spec/methods.js';

const fixtures = readFileSync(new URL('../../../plugin-spec/fixtures/docker-20.10-requests.jsonl', import.meta.url), 'utf8')
  .trim().split('\n').map((line) => JSON.parse(line) as { method: MethodName; body: string });

function check(method: MethodName, body: unknown): string {
  const result = methods[method].request.safeParse(body);
  return result.success ? 'ok' : formatZodIssues(result.error, body);
}

const NET = 'a'.repeat(64);
const EP = 'b'.repeat(64);

describe('recorded Docker 20.10 traffic', () => {
  test.each(fixtures.map((f, i) => [i, f.method, f.body] as const))('request %i (%s) parses', (_i, method, body) => {
    expect(check(method, body.trim() === '' ? undefined : JSON.parse(body))).toBe('ok');
  });

  test('every method of the protocol is in the table', () => {
    for (const f of fixtures) expect(methods[f.method]).toBeDefined();
    expect(Object.keys(methods)).toHaveLength(21);
  });
});

describe('bad requests are refused with a message naming the field', () => {
  test.each([
    ['NetworkDriver.CreateNetwork', {}, /^NetworkID: is required/],
    ['NetworkDriver.CreateNetwork', { NetworkID: 42 }, /^NetworkID: expected an id string/],
    ['NetworkDriver.CreateNetwork', { NetworkID: '' }, /^NetworkID: must not be empty/],
    ['NetworkDriver.CreateNetwork', { NetworkID: 'x'.repeat(129) }, /^NetworkID: expected at most 128 characters/],
    ['NetworkDriver.CreateNetwork', { NetworkID: 'a/../b' }, /^NetworkID: expected letters, digits/],
    ['NetworkDriver.CreateNetwork', { NetworkID: NET, IPv4Data: 'x' }, /^IPv4Data: /],
    ['NetworkDriver.CreateNetwork', { NetworkID: NET, IPv4Data: [{ Pool: '10.0.0.0' }] }, /^IPv4Data\[0\]\.Pool: expected an IPv4 or IPv6 address in CIDR form/],
    ['NetworkDriver.CreateNetwork', { NetworkID: NET, IPv4Data: [{ Pool: '10.0.0.0/24', Gateway: '10.0.0.1/40' }] }, /^IPv4Data\[0\]\.Gateway: expected an IPv4 or IPv6 address in CIDR form/],
    ['NetworkDriver.CreateNetwork', { NetworkID: NET, Options: { 'com.docker.network.internal': 'yes' } }, /^Options\["com.docker.network.internal"\]: expected true or false/],
    ['NetworkDriver.CreateNetwork', { NetworkID: NET, IPv4Data: Array(1025).fill({ Pool: '10.0.0.0/24' }) }, /^IPv4Data: expected at most 1024 entries/],
    ['NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '10.0.0.2' } }, /^Interface\.Address: expected an IPv4 or IPv6 address in CIDR form/],
    ['NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { MacAddress: 'zz:zz' } }, /^Interface\.MacAddress: expected a MAC address/],
    ['NetworkDriver.CreateEndpoint', { NetworkID: NET }, /^EndpointID: is required/],
    ['NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: 'relative/path' }, /^SandboxKey: expected an absolute path/],
    ['NetworkDriver.Join', { NetworkID: NET, EndpointID: EP }, /^SandboxKey: is required/],
    ['NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: { 'com.docker.network.portmap': [{ Proto: 99, Port: 80 }] } }, /portmap"\]\[0\]\.Proto: expected protocol 6 \(tcp\), 17 \(udp\) or 132 \(sctp\)/],
    ['NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: { 'com.docker.network.portmap': [{ Proto: 6, Port: 70000 }] } }, /\[0\]\.Port: expected a port between 0 and 65535/],
    ['NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: { 'com.docker.network.portmap': [{ Proto: 6, Port: 80, HostIP: 'localhost' }] } }, /\[0\]\.HostIP: expected an IPv4 or IPv6 address/],
    ['IpamDriver.RequestPool', { AddressSpace: 'x', Pool: '10.0.0.0/33' }, /^Pool: expected an IPv4 or IPv6 address in CIDR form/],
    ['IpamDriver.RequestAddress', { PoolID: 'p', Address: '10.0.0.300' }, /^Address: expected an IPv4 or IPv6 address/],
    ['IpamDriver.ReleaseAddress', { PoolID: 'p' }, /^Address: is required/],
    ['NetworkDriver.DiscoverNew', { DiscoveryType: 'node' }, /^DiscoveryType: expected a discovery type number/],
  ] as Array<[MethodName, unknown, RegExp]>)('%s %j', (method, body, message) => {
    expect(check(method, body)).toMatch(message);
  });

  test('no-argument methods accept nothing, null and {} but not a string', () => {
    for (const body of [undefined, null, {}]) expect(check('Plugin.Activate', body)).toBe('ok');
    expect(check('NetworkDriver.GetCapabilities', 'hello')).not.toBe('ok');
  });

  test('messages are capped and never echo the body', () => {
    const body = { NetworkID: 7, EndpointID: 8, SandboxKey: 9, Options: 'secret-token-value', Interface: 'x' };
    const message = check('NetworkDriver.Join', body);
    expect(message).not.toContain('secret-token-value');
    expect(message.length).toBeLessThan(600);
  });
});

describe('replies', () => {
  test('representative replies match their schemas', () => {
    expect(methods['Plugin.Activate'].response.safeParse({ Implements: ['NetworkDriver'] }).success).toBe(true);
    expect(methods['NetworkDriver.GetCapabilities'].response.safeParse({ Scope: 'local', ConnectivityScope: 'global' }).success).toBe(true);
    expect(methods['NetworkDriver.Join'].response.safeParse({ InterfaceName: { SrcName: 'tsnp-0123456789', DstPrefix: 'eth' }, Gateway: '10.0.0.1' }).success).toBe(true);
    expect(methods['NetworkDriver.Join'].response.safeParse({ InterfaceName: { SrcName: '', DstPrefix: 'eth' } }).success).toBe(false);
    expect(methods['IpamDriver.RequestPool'].response.safeParse({ PoolID: 'x', Pool: '10.0.0.0/24' }).success).toBe(true);
  });
});
