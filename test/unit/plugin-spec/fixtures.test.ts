import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { formatZodIssues } from '../../../plugin-spec/format.js';
import { isMethodName, methods, type MethodName } from '../../../plugin-spec/methods.js';

interface Recorded {
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

const load = (file: string) => readFileSync(new URL(`../../../plugin-spec/fixtures/${file}`, import.meta.url), 'utf8')
  .trim().split('\n').map((line) => JSON.parse(line) as Recorded);
const recorded = load('docker-20.10-requests.jsonl');
const recorded28 = load('docker-28.5-requests.jsonl');

/** What the server does with a body before validation: empty → undefined, else JSON. */
function decode(body: string): unknown {
  return body.trim() === '' ? undefined : JSON.parse(body);
}

describe('every request a real dockerd 20.10 sent', () => {
  test.each(recorded.map((r, i) => [i + 1, r.method, r] as const))('line %i (%s) parses with its schema', (_line, method, r) => {
    expect(isMethodName(method), `${method} is in the table`).toBe(true);
    const result = methods[method as MethodName].request.safeParse(decode(r.body));
    expect(result.success ? 'ok' : formatZodIssues(result.error)).toBe('ok');
  });

  test('Docker sends Accept and no Content-Type; methods without arguments come with an empty body', () => {
    for (const r of recorded) {
      expect(r.headers.Accept).toBe('application/vnd.docker.plugins.v1.2+json');
      expect(Object.keys(r.headers).map((h) => h.toLowerCase())).not.toContain('content-type');
      expect(r.body === '', r.method).toBe(methods[r.method as MethodName].noArguments);
    }
  });

  test('parsing keeps what the daemon needs, including unknown option keys', () => {
    const endpoint = recorded.find((r) => r.method === 'NetworkDriver.CreateEndpoint' && r.body.includes('macaddress'));
    const parsed = methods['NetworkDriver.CreateEndpoint'].request.parse(decode(endpoint?.body ?? ''));
    expect(parsed.Interface?.MacAddress).toBe('02:42:0a:c7:05:c8');
    expect(parsed.Options?.['com.docker.network.endpoint.macaddress']).toBe('AkIKxwXI');
    expect(Buffer.from('AkIKxwXI', 'base64').toString('hex')).toBe('02420ac705c8');

    const body = { NetworkID: 'n1', Options: { 'com.docker.network.generic': { foo: 'bar' }, 'io.example.label': ['kept'] }, Future: 1 };
    expect(methods['NetworkDriver.CreateNetwork'].request.parse(body)).toEqual(body);
  });

  test('the fixtures exercise the Docker quirks the schemas must accept', () => {
    const bodies = recorded.map((r) => r.body).join('\n');
    expect(bodies).toContain('"IPv6Data":[]');
    expect(bodies).toContain('"Options":null');
    expect(bodies).toContain('"AddressIPv6":""');
    expect(bodies).toContain('"SubPool":""');
    expect(bodies).toContain('"com.docker.network.portmap":[]');
    expect(bodies).toContain('"AuxAddresses":{"a1":"10.199.5.10/24"}');
  });
});

describe('every request a real dockerd 28.5.2 sent', () => {
  test.each(recorded28.map((r, i) => [i + 1, r.method, r] as const))('line %i (%s) parses with its schema', (_line, method, r) => {
    expect(isMethodName(method), `${method} is in the table`).toBe(true);
    const result = methods[method as MethodName].request.safeParse(decode(r.body));
    expect(result.success ? 'ok' : formatZodIssues(result.error)).toBe('ok');
    expect(r.headers.Accept).toBe('application/vnd.docker.plugins.v1.2+json');
    expect(r.body === '', r.method).toBe(methods[method as MethodName].noArguments);
  });

  test('the fixture exercises what 28+ added: GwAllocCheck, enable_ipv4, IPv6-only, the ifname option', () => {
    const bodies = recorded28.map((r) => r.body).join('\n');
    expect(recorded28.filter((r) => r.method === 'NetworkDriver.GwAllocCheck')).toHaveLength(5);
    expect(bodies).toContain('"com.docker.network.enable_ipv4":false');
    expect(bodies).toContain('"IPv4Data":[]');
    expect(bodies).toContain('"com.docker.network.endpoint.ifname":"foo0"');
    expect(bodies).toContain('"com.docker.network.driver.private.no_proxy_6to4":false');
    const endpoint = recorded28.find((r) => r.body.includes('endpoint.ifname'));
    expect(methods['NetworkDriver.CreateEndpoint'].request.parse(decode(endpoint?.body ?? '')).Options?.['com.docker.network.endpoint.ifname']).toBe('foo0');
  });
});

describe('shapes Docker can send that the recording happens not to contain', () => {
  const N = 'n'.repeat(64);
  test.each([
    ['NetworkDriver.CreateNetwork', { NetworkID: N, Options: null, IPv4Data: null, IPv6Data: null }],
    ['NetworkDriver.CreateNetwork', { NetworkID: N }],
    ['NetworkDriver.CreateNetwork', { NetworkID: N, IPv4Data: [{ AddressSpace: 'x', Pool: '10.1.0.0/16', AuxAddresses: null }], IPv6Data: [{ AddressSpace: 'x', Pool: 'fd00::/64', Gateway: 'fd00::1/64' }] }],
    ['NetworkDriver.CreateEndpoint', { NetworkID: N, EndpointID: N, Interface: { Address: '', AddressIPv6: 'fd00::5/64', MacAddress: '' }, Options: null }],
    ['NetworkDriver.CreateEndpoint', { NetworkID: N, EndpointID: N, Options: { 'com.docker.network.portmap': [{ Proto: 132, IP: '', Port: 9, HostIP: '::1', HostPort: 0, HostPortEnd: 0 }] } }],
    ['NetworkDriver.Join', { NetworkID: 'odd.id_1-x', EndpointID: 'E', SandboxKey: '/var/run/docker/netns/default' }],
    ['NetworkDriver.AllocateNetwork', { NetworkID: N, Options: { 'com.docker.network.driver.overlay.vxlanid_list': '4097' }, IPv4Data: [{ AddressSpace: 'GlobalDefault', Pool: '10.0.0.0/24', Gateway: '10.0.0.1/24' }], IPv6Data: null }],
    ['NetworkDriver.DiscoverNew', { DiscoveryType: 1, DiscoveryData: { Address: '192.0.2.1', BindAddress: '0.0.0.0', Self: true } }],
    ['NetworkDriver.DiscoverDelete', { DiscoveryType: 1, DiscoveryData: null }],
    ['IpamDriver.RequestPool', { AddressSpace: 'LocalDefault', Pool: '', SubPool: '', Options: null, V6: true }],
    ['IpamDriver.RequestAddress', { PoolID: 'LocalDefault/fd00::/64/', Address: 'fd00::9', Options: { 'com.docker.network.endpoint.macaddress': 'AkIKxwXI' } }],
    ['Plugin.Activate', null],
    ['Plugin.Activate', {}],
    ['IpamDriver.GetDefaultAddressSpaces', { ignored: true }],
  ] as Array<[MethodName, unknown]>)('%s %j', (method, body) => {
    const result = methods[method].request.safeParse(body);
    expect(result.success ? 'ok' : formatZodIssues(result.error)).toBe('ok');
  });
});
