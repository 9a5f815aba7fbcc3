import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { createBridgeDriver } from '../../../drivers/bridge/index.js';
import type { Driver } from '../../../drivers/driver.js';
import { buildApp } from '../../../src/api/app.js';
import { registerIpamRoutes } from '../../../src/api/ipam-routes.js';
import { registerNetworkRoutes } from '../../../src/api/network-routes.js';
import { AddressSpace } from '../../../src/ipam/address-space.js';
import { DEFAULT_POOLS, type DefaultPool } from '../../../src/ipam/default-pools.js';
import { IpamService } from '../../../src/ipam/ipam-service.js';
import { registerPluginRoutes } from '../../../src/api/plugin-routes.js';
import { CnmRepository } from '../../../src/cnm/repository.js';
import { NetworkService } from '../../../src/cnm/service.js';
import type { NetworkType } from '../../../src/core/model.js';
import { RecordingFirewall } from '../../../src/host/firewall.js';
import { RecordingHostNet } from '../../../src/host/recording.js';
import { silentLog } from '../bridge/fixtures.js';
import { formatZodIssues } from '../../../plugin-spec/format.js';
import { isMethodName, methods, refusalSchema, type MethodName } from '../../../plugin-spec/methods.js';
import { MemoryKvStore } from '../cnm/memory-kv.js';

interface Recorded { method: string; headers: Record<string, string>; body: string }
const load = (file: string) => readFileSync(new URL(`../../../plugin-spec/fixtures/${file}`, import.meta.url), 'utf8')
  .trim().split('\n').map((l) => JSON.parse(l) as Recorded);
const recorded = load('docker-20.10-requests.jsonl');
const recorded28 = load('docker-28.5-requests.jsonl');

function setup(options: { ready?: Promise<void>; handlerTimeoutMs?: number; defaultPools?: readonly DefaultPool[] } = {}) {
  const host = new RecordingHostNet();
  const firewall = new RecordingFirewall();
  const drivers = new Map<NetworkType, Driver>([['bridge', createBridgeDriver({ host, log: silentLog })]]);
  const store = new MemoryKvStore();
  const service = new NetworkService({ repo: new CnmRepository(store), drivers, firewall, probe: async () => 'free', log: silentLog, sandboxExists: () => true });
  const ipam = new IpamService({ local: new AddressSpace('tsnet-local', false, store, 'host-a', silentLog), defaultPools: options.defaultPools ?? DEFAULT_POOLS });
  const app = buildApp({ log: silentLog, ready: options.ready ?? Promise.resolve(), handlerTimeoutMs: options.handlerTimeoutMs ?? 5_000, bodyLimit: 1024 * 1024 }, (define) => {
    registerPluginRoutes(define);
    registerNetworkRoutes(define, { service: () => service, scope: { scope: 'local', connectivityScope: 'local' } });
    registerIpamRoutes(define, () => ipam);
  });
  // Exactly Docker's headers: Accept only, no Content-Type.
  const call = (method: string, body: string) => app.inject({ method: 'POST', url: `/${method}`, headers: { accept: 'application/vnd.docker.plugins.v1.2+json' }, payload: body });
  return { app, call, host, firewall, service, store };
}

/** A recorded request that tsnet rightly refuses, and why that is the right answer. */
interface ExpectedRefusal {
  readonly method: string;
  readonly when: (body: string) => boolean;
  readonly message: RegExp;
  readonly why: string;
}

/**
 * Sends every recorded request in order, exactly as dockerd did (Accept only, no Content-Type),
 * and checks each answer as dockerd would read it: HTTP 200 and a reply valid by the method's
 * plugin-spec schema, or, only for the requests in `refusals`, a refusal in the field Docker
 * reads (`Err`, `Error` for IpamDriver) saying the expected thing. `after` runs after each call.
 */
async function replay(call: ReturnType<typeof setup>['call'], requests: readonly Recorded[], rewrite: (body: string) => string, refusals: readonly ExpectedRefusal[], after: () => Promise<void> = async () => undefined) {
  const refused = new Set<ExpectedRefusal>();
  for (const [index, r] of requests.entries()) {
    const body = rewrite(r.body);
    const reply = await call(r.method, body);
    const label = `line ${index + 1} ${r.method}: ${reply.body.slice(0, 300)}`;
    expect(isMethodName(r.method), label).toBe(true);
    const method = r.method as MethodName;
    expect(reply.statusCode, label).toBe(200);
    expect(reply.headers['content-type']).toContain('application/vnd.docker.plugins.v1+json');
    const json: unknown = reply.json();
    const refusal = refusals.find((x) => x.method === r.method && x.when(body));
    if (refusal) {
      refused.add(refusal);
      const parsed = refusalSchema(method).safeParse(json);
      expect(parsed.success ? 'ok' : formatZodIssues(parsed.error), label).toBe('ok');
      expect(JSON.stringify(json), `${label} (${refusal.why})`).toMatch(refusal.message);
    } else {
      const parsed = methods[method].response.safeParse(json);
      expect(parsed.success ? 'ok' : formatZodIssues(parsed.error), label).toBe('ok');
      // The success schemas ignore unknown keys as Docker does; tsnet must not send refusal fields at all.
      expect(json, label).not.toHaveProperty('Err');
      expect(json, label).not.toHaveProperty('Error');
    }
    await after();
  }
  expect([...refused].map((x) => x.why), 'every expected refusal happened').toEqual(refusals.map((x) => x.why));
}

/** The recording plugin's made-up address space and the options tsnet rightly refuses ("foo", "io"), tested on their own below and in the IPAM tests. */
const common = (body: string) => body.replace(',"foo":"bar"', '').replace('"io":"iv"', '').replaceAll('fakelocal', 'tsnet-local');

describe('replaying the calls a real dockerd 20.10 made', () => {
  test('every call succeeds in order with a schema-valid reply, IPAM included, and the session leaves nothing behind', async () => {
    const { call, host, firewall, store } = setup();
    // Positive control: "nothing left behind" means something only if the session made things.
    const peak = { links: 0, rules: 0, addresses: 0 };
    await replay(call, recorded, common, [], async () => {
      peak.links = Math.max(peak.links, (await host.listLinks()).length);
      peak.rules = Math.max(peak.rules, firewall.rules.length);
      peak.addresses = Math.max(peak.addresses, (await store.list('ipam/v1/tsnet-local/addr/')).length);
    });
    expect(peak.links, 'the session created links').toBeGreaterThan(0);
    expect(peak.rules, 'the session installed firewall rules').toBeGreaterThan(0);
    expect(peak.addresses, 'the session allocated addresses').toBeGreaterThan(0);
    expect(await host.listLinks()).toEqual([]);
    expect(firewall.rules).toEqual([]);
    for (const prefix of ['pools/', 'addr/', 'cursor/']) expect(await store.list(`ipam/v1/tsnet-local/${prefix}`)).toEqual([]);
  });

  test('a delivered reply clears its call\'s unanswered marker; a refused call leaves none behind', async () => {
    const { call, store } = setup();
    const net = (id: string, subnet: string) => JSON.stringify({ NetworkID: id, Options: { 'com.docker.network.generic': {} }, IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: subnet, Gateway: subnet.replace('0/24', '1/24') }], IPv6Data: [] });
    expect((await call('NetworkDriver.CreateNetwork', net('n1', '10.77.0.0/24'))).json()).toEqual({});
    expect((await call('NetworkDriver.CreateNetwork', net('n2', '10.77.0.0/24'))).json()).toHaveProperty('Err');
    await new Promise((resolve) => setTimeout(resolve, 50)); // answers are written in batches
    expect(await store.list('tsnet/v1/local/unanswered/')).toEqual([]);
    expect((await store.list('tsnet/v1/local/network/')).map((e) => e.key)).toEqual(['tsnet/v1/local/network/n1']);
  });

  test('a "__proto__" key and non-string option values are refused by name', async () => {
    const { call, store } = setup();
    const proto = await call('NetworkDriver.CreateNetwork', '{"NetworkID":"n1","Options":{"com.docker.network.generic":{"__proto__":{"x":"y"}}},"IPv4Data":[{"Pool":"10.78.0.0/24"}]}');
    expect(proto.statusCode).toBe(400);
    expect(proto.json().Err).toMatch(/Options.com.docker.network.generic: the key "__proto__" is not allowed/);
    const number = await call('NetworkDriver.CreateNetwork', '{"NetworkID":"n1","Options":{"com.docker.network.generic":{"com.docker.network.driver.mtu":1400}},"IPv4Data":[{"Pool":"10.78.0.0/24"}]}');
    expect(number.json().Err).toMatch(/network option "com.docker.network.driver.mtu" has a number value; option values are strings/);
    expect(await store.list('')).toEqual([]);
  });

  test('IPAM refusals use the Error field libnetwork reads', async () => {
    const { call } = setup();
    const reply = await call('IpamDriver.RequestPool', JSON.stringify({ AddressSpace: 'tsnet-local', Pool: '10.1.0.0/24', Options: { io: 'iv' }, V6: false }));
    expect(reply.statusCode).toBe(200);
    expect(reply.json()).toEqual({ Error: expect.stringMatching(/does not know --ipam-opt "io"/) });
  });

  test('CreateEndpoint returns a MAC only when Docker gave none; Join names the veth', async () => {
    const { call } = setup();
    const net = recorded.find((r) => r.method === 'NetworkDriver.CreateNetwork');
    await call('NetworkDriver.CreateNetwork', (net?.body ?? '').replace(',"foo":"bar"', ''));
    const withoutMac = recorded.find((r) => r.method === 'NetworkDriver.CreateEndpoint' && r.body.includes('"MacAddress":""'));
    const reply = await call('NetworkDriver.CreateEndpoint', withoutMac?.body ?? '');
    expect(reply.json()).toEqual({ Interface: { MacAddress: '02:74:0a:c7:05:02' } });
    const withMac = recorded.find((r) => r.method === 'NetworkDriver.CreateEndpoint' && r.body.includes('02:42:0a:c7:05:c8'));
    expect((await call('NetworkDriver.CreateEndpoint', withMac?.body ?? '')).json()).toEqual({ Interface: {} });
    const join = recorded.find((r) => r.method === 'NetworkDriver.Join');
    expect((await call('NetworkDriver.Join', join?.body ?? '')).json()).toMatchObject({ InterfaceName: { SrcName: expect.stringMatching(/^tsnp-[0-9a-f]{10}$/), DstPrefix: 'eth' }, Gateway: '10.199.5.1' });
  });

  test('an unknown -o option is refused, naming it and listing the known ones', async () => {
    const { call, host } = setup();
    const net = recorded.find((r) => r.method === 'NetworkDriver.CreateNetwork');
    const reply = await call('NetworkDriver.CreateNetwork', net?.body ?? '');
    expect(reply.statusCode).toBe(200);
    expect(reply.json().Err).toMatch(/does not know network option "foo"; known options: tsnet.type, com.docker.network.bridge.name/);
    expect(await host.listLinks()).toEqual([]);
  });
});

describe('replaying the calls a real dockerd 28.5.2 made', () => {
  const IPV6_ONLY = 'f936041e00dc549abee5cdd08e1d3fada84d006bcf6ceec3b340745a90f2ea4d';
  /**
   * Beyond `common`: the recording plugin ignored --ip-range and gave r1 10.199.5.2, which
   * dockerd then passed on; tsnet rightly gives the first address of 10.199.5.128/25, and
   * dockerd would have passed that on instead.
   */
  const rewrite = (body: string) => common(body).replaceAll('10.199.5.2/24', '10.199.5.128/24').replace('"Address":"10.199.5.2"}', '"Address":"10.199.5.128"}');
  /** None: every request of the 28.5 session, recgw's `gateway_mode_ipv4=routed` included, is one tsnet honours. */
  const refusals: ExpectedRefusal[] = [];

  test('every call gets a schema-valid answer in order (GwAllocCheck and the ifname option included), and the session leaves nothing behind', async () => {
    // The recording's auto-chosen pool (recauto, no --subnet) was 10.199.0.0/24; the same
    // default pool makes tsnet choose it too, so the later calls naming it find it.
    const { call, host, firewall, store } = setup({ defaultPools: [{ base: '10.199.0.0/16', size: 24 }] });
    const peak = { links: 0, rules: 0, addresses: 0 };
    await replay(call, recorded28, rewrite, refusals, async () => {
      peak.links = Math.max(peak.links, (await host.listLinks()).length);
      peak.rules = Math.max(peak.rules, firewall.rules.length);
      peak.addresses = Math.max(peak.addresses, (await store.list('ipam/v1/tsnet-local/addr/')).length);
    });
    expect(peak.links, 'the session created links').toBeGreaterThan(0);
    expect(peak.rules, 'the session installed firewall rules').toBeGreaterThan(0);
    expect(peak.addresses, 'the session allocated addresses').toBeGreaterThan(0);
    // rec6only (--ipv4=false --ipv6) was refused by the recording plugin, so dockerd never
    // deleted it; tsnet created it, and the removal Docker would send for it ends the session.
    expect((await call('NetworkDriver.DeleteNetwork', JSON.stringify({ NetworkID: IPV6_ONLY }))).json()).toEqual({});
    expect(await host.listLinks()).toEqual([]);
    expect(firewall.rules).toEqual([]);
    expect(await store.list('tsnet/v1/local/network/')).toEqual([]);
    for (const prefix of ['pools/', 'addr/', 'cursor/']) expect(await store.list(`ipam/v1/tsnet-local/${prefix}`)).toEqual([]);
  });

  test('what 28.5 sent beyond 20.10 is answered: GwAllocCheck keeps a bridge\'s gateway, the endpoint ifname is accepted', async () => {
    const { call } = setup();
    const check = recorded28.find((r) => r.method === 'NetworkDriver.GwAllocCheck');
    expect((await call('NetworkDriver.GwAllocCheck', check?.body ?? '')).json()).toEqual({ SkipIPv4: false, SkipIPv6: false });
    const network = recorded28.find((r) => r.method === 'NetworkDriver.CreateNetwork');
    expect((await call('NetworkDriver.CreateNetwork', rewrite(network?.body ?? ''))).json()).toEqual({});
    const ifname = recorded28.find((r) => r.method === 'NetworkDriver.CreateEndpoint' && r.body.includes('endpoint.ifname'));
    // Accepted, though no remote driver can honour it: dockerd passes remote drivers an empty DstName.
    expect((await call('NetworkDriver.CreateEndpoint', ifname?.body ?? '')).json()).toEqual({ Interface: {} });
  });

  test("Docker's overlap-retry loop: the identical Pool \"\" RequestPool, sent again while the first pool is held, gets another pool", async () => {
    const { call } = setup();
    const auto = recorded28.find((r) => r.method === 'IpamDriver.RequestPool' && r.body.includes('"Pool":""'));
    const body = common(auto?.body ?? '');
    const first = (await call('IpamDriver.RequestPool', body)).json();
    const second = (await call('IpamDriver.RequestPool', body)).json();
    expect([first.Pool, second.Pool]).toEqual(['10.224.0.0/24', '10.224.1.0/24']);
    for (const reply of [first, second]) expect(methods['IpamDriver.RequestPool'].response.safeParse(reply).success).toBe(true);
    // Docker releases the pool it kept once the retry found a good one; that pool is then the next choice.
    expect((await call('IpamDriver.ReleasePool', JSON.stringify({ PoolID: first.PoolID }))).json()).toEqual({});
    expect((await call('IpamDriver.RequestPool', body)).json().Pool).toBe('10.224.0.0/24');
  });

  test('IPAM options Docker adds itself are accepted through the API; a user\'s unknown --ipam-opt is refused in Error', async () => {
    const { call } = setup();
    const pool = await call('IpamDriver.RequestPool', JSON.stringify({ AddressSpace: 'tsnet-local', Pool: '10.88.0.0/24', SubPool: '', Options: { 'com.docker.network.ipam.serial': 'true' }, V6: false }));
    expect(pool.json()).toEqual({ PoolID: 'tsnet-local/10.88.0.0/24/', Pool: '10.88.0.0/24', Data: {} });
    const named = await call('IpamDriver.RequestAddress', JSON.stringify({ PoolID: 'tsnet-local/10.88.0.0/24/', Address: '', Options: { 'com.docker.network.endpoint.name': 'web' } }));
    expect(named.json()).toEqual({ Address: '10.88.0.1/24', Data: {} });
    const typo = await call('IpamDriver.RequestPool', JSON.stringify({ AddressSpace: 'tsnet-local', Pool: '10.89.0.0/24', Options: { 'com.docker.network.ipam.seriall': 'true' }, V6: false }));
    expect(typo.json()).toEqual({ Error: 'the tsnet IPAM does not know --ipam-opt "com.docker.network.ipam.seriall"; known options: tsnet.scope' });
  });
});

describe('the HTTP layer', () => {
  test('calls wait for start-up to finish', async () => {
    let release!: () => void;
    const { call } = setup({ ready: new Promise<void>((r) => { release = r; }) });
    let answered = false;
    const pending = call('NetworkDriver.GetCapabilities', '').then((r) => { answered = true; return r; });
    await new Promise((r) => setTimeout(r, 50));
    expect(answered).toBe(false);
    release();
    expect((await pending).json()).toEqual({ Scope: 'local', ConnectivityScope: 'local', GwAllocChecker: true });
  });

  test('a call that overruns its deadline gets an Err, and the daemon keeps answering', async () => {
    const { call } = setup({ ready: new Promise<void>(() => undefined), handlerTimeoutMs: 100 });
    const reply = await call('NetworkDriver.GetCapabilities', '');
    expect(reply.json().Err).toMatch(/NetworkDriver.GetCapabilities did not finish within 100 ms/);
  });

  test('bad bodies: unparseable JSON is 400, an oversized body is read to its end and refused with 413', async () => {
    const { call } = setup();
    for (const body of ['{"NetworkID": ', 'nul', '\u0000']) {
      const reply = await call('NetworkDriver.CreateNetwork', body);
      expect(reply.statusCode, body).toBe(400);
      expect(reply.json().Err).toMatch(/request body is not valid JSON/);
    }
    const huge = await call('NetworkDriver.CreateNetwork', JSON.stringify({ NetworkID: 'n', blob: 'x'.repeat(2 * 1024 * 1024) }));
    expect(huge.statusCode).toBe(413);
    expect(huge.json().Err).toBe('request body is larger than 1048576 bytes');
    expect((await call('Plugin.Activate', '')).statusCode).toBe(200);
  });

  test('calls get 503 when start-up failed', async () => {
    const failed = Promise.reject(new Error('state directory /x is in use by process 7'));
    failed.catch(() => undefined);
    const { call } = setup({ ready: failed });
    const reply = await call('Plugin.Activate', '');
    expect(reply.statusCode).toBe(503);
    expect(reply.json().Err).toBe('tsnet could not start: state directory /x is in use by process 7');
  });

  test('a bug becomes a 500 with a request id, not a crash', async () => {
    const { call, service } = setup();
    service.endpointInfo = () => { throw new Error('boom'); };
    const reply = await call('NetworkDriver.EndpointOperInfo', JSON.stringify({ NetworkID: 'n', EndpointID: 'e' }));
    expect(reply.statusCode).toBe(500);
    expect(reply.json().Err).toMatch(/tsnet internal error \(request req-\w+\); see the tsnet log/);
    expect(reply.body).not.toContain('boom');
  });
});

describe('what Docker sends twice must agree', () => {
  test('a reversed host-port range and disagreeing MACs are refused with what is wrong', async () => {
    const { call } = setup();
    const network = '{"NetworkID":"n1","Options":{"com.docker.network.generic":{}},"IPv4Data":[{"AddressSpace":"LocalDefault","Pool":"10.79.0.0/24","Gateway":"10.79.0.1/24"}],"IPv6Data":[]}';
    expect((await call('NetworkDriver.CreateNetwork', network)).json()).toEqual({});
    const reversed = await call('NetworkDriver.CreateEndpoint', '{"NetworkID":"n1","EndpointID":"e1","Interface":{"Address":"10.79.0.2/24"},"Options":{"com.docker.network.portmap":[{"Proto":6,"Port":80,"HostPort":8090,"HostPortEnd":8080}]}}');
    expect(reversed.statusCode).toBe(400);
    expect(reversed.json().Err).toMatch(/HostPortEnd: expected HostPortEnd to be 0 or at least HostPort, got a range 8090-8080/);
    // AkIKAAAF is 02:42:0a:00:00:05
    const macs = await call('NetworkDriver.CreateEndpoint', '{"NetworkID":"n1","EndpointID":"e1","Interface":{"Address":"10.79.0.2/24","MacAddress":"02:42:0a:00:00:06"},"Options":{"com.docker.network.endpoint.macaddress":"AkIKAAAF"}}');
    expect(macs.json().Err).toMatch(/Interface.MacAddress 02:42:0a:00:00:06 and option com.docker.network.endpoint.macaddress \(02:42:0a:00:00:05\) disagree/);
    const agree = await call('NetworkDriver.CreateEndpoint', '{"NetworkID":"n1","EndpointID":"e1","Interface":{"Address":"10.79.0.2/24","MacAddress":"02:42:0a:00:00:05"},"Options":{"com.docker.network.endpoint.macaddress":"AkIKAAAF"}}');
    expect(agree.json()).toEqual({ Interface: {} });
  });
});
