import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { createBridgeDriver } from '../../../drivers/bridge/index.js';
import type { Driver } from '../../../drivers/driver.js';
import { buildApp } from '../../../src/api/app.js';
import { registerIpamRoutes } from '../../../src/api/ipam-routes.js';
import { registerNetworkRoutes } from '../../../src/api/network-routes.js';
import { AddressSpace } from '../../../src/ipam/address-space.js';
import { DEFAULT_POOLS } from '../../../src/ipam/default-pools.js';
import { IpamService } from '../../../src/ipam/ipam-service.js';
import { registerPluginRoutes } from '../../../src/api/plugin-routes.js';
import { CnmRepository } from '../../../src/cnm/repository.js';
import { NetworkService } from '../../../src/cnm/service.js';
import type { NetworkType } from '../../../src/core/model.js';
import { RecordingFirewall } from '../../../src/host/firewall.js';
import { RecordingHostNet } from '../../../src/host/recording.js';
import { silentLog } from '../bridge/fixtures.js';
import { MemoryKvStore } from '../cnm/memory-kv.js';

interface Recorded { method: string; headers: Record<string, string>; body: string }
const recorded = readFileSync(new URL('../../../plugin-spec/fixtures/docker-20.10-requests.jsonl', import.meta.url), 'utf8')
  .trim().split('\n').map((l) => JSON.parse(l) as Recorded);

function setup(options: { ready?: Promise<void>; handlerTimeoutMs?: number } = {}) {
  const host = new RecordingHostNet();
  const firewall = new RecordingFirewall();
  const drivers = new Map<NetworkType, Driver>([['bridge', createBridgeDriver({ host, log: silentLog })]]);
  const store = new MemoryKvStore();
  const service = new NetworkService({ repo: new CnmRepository(store), drivers, firewall, probe: async () => 'free', log: silentLog, sandboxExists: () => true });
  const ipam = new IpamService({ local: new AddressSpace('tsnet-local', false, store, 'host-a', silentLog), defaultPools: DEFAULT_POOLS });
  const app = buildApp({ log: silentLog, ready: options.ready ?? Promise.resolve(), handlerTimeoutMs: options.handlerTimeoutMs ?? 5_000, bodyLimit: 1024 * 1024 }, (define) => {
    registerPluginRoutes(define);
    registerNetworkRoutes(define, { service: () => service, scope: { scope: 'local', connectivityScope: 'local' } });
    registerIpamRoutes(define, () => ipam);
  });
  // Exactly Docker's headers: Accept only, no Content-Type.
  const call = (method: string, body: string) => app.inject({ method: 'POST', url: `/${method}`, headers: { accept: 'application/vnd.docker.plugins.v1.2+json' }, payload: body });
  return { app, call, host, firewall, service, store };
}

describe('replaying the calls a real dockerd 20.10 made', () => {
  test('every call succeeds in order, IPAM included, and the session leaves nothing behind', async () => {
    const { call, host, firewall, store } = setup();
    // Positive control: "nothing left behind" means something only if the session made things.
    const peak = { links: 0, rules: 0, addresses: 0 };
    for (const r of recorded) {
      // The recording used a made-up address space and options tsnet rightly refuses ("foo",
      // "io"); those refusals are tested on their own below and in the IPAM tests.
      const body = r.body.replace(',"foo":"bar"', '').replace('"io":"iv"', '').replaceAll('fakelocal', 'tsnet-local');
      const reply = await call(r.method, body);
      expect(reply.statusCode, `${r.method}: ${reply.body}`).toBe(200);
      expect(reply.json(), `${r.method}: ${reply.body}`).not.toHaveProperty('Err');
      expect(reply.json(), `${r.method}: ${reply.body}`).not.toHaveProperty('Error');
      expect(reply.headers['content-type']).toContain('application/vnd.docker.plugins.v1+json');
      peak.links = Math.max(peak.links, (await host.listLinks()).length);
      peak.rules = Math.max(peak.rules, firewall.rules.length);
      peak.addresses = Math.max(peak.addresses, (await store.list('ipam/v1/tsnet-local/addr/')).length);
    }
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
