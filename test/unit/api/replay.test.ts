import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { createBridgeDriver } from '../../../drivers/bridge/index.js';
import type { Driver } from '../../../drivers/driver.js';
import { buildApp } from '../../../src/api/app.js';
import { registerNetworkRoutes } from '../../../src/api/network-routes.js';
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
  const service = new NetworkService({ repo: new CnmRepository(new MemoryKvStore()), drivers, firewall, probe: async () => 'free', log: silentLog });
  const app = buildApp({ log: silentLog, ready: options.ready ?? Promise.resolve(), handlerTimeoutMs: options.handlerTimeoutMs ?? 5_000, bodyLimit: 1024 * 1024 }, (define) => {
    registerPluginRoutes(define);
    registerNetworkRoutes(define, { service: () => service, scope: { scope: 'local', connectivityScope: 'local' } });
  });
  // Exactly Docker's headers: Accept only, no Content-Type.
  const call = (method: string, body: string) => app.inject({ method: 'POST', url: `/${method}`, headers: { accept: 'application/vnd.docker.plugins.v1.2+json' }, payload: body });
  return { app, call, host, firewall, service };
}

describe('replaying the calls a real dockerd 20.10 made', () => {
  test('every NetworkDriver call succeeds in order; IpamDriver calls are 404 (not announced)', async () => {
    const { call, host, firewall } = setup();
    for (const r of recorded) {
      // The recording used an option tsnet rightly refuses ("foo"); that case is tested below.
      const body = r.body.replace(',"foo":"bar"', '');
      const reply = await call(r.method, body);
      if (r.method.startsWith('IpamDriver.')) {
        expect(reply.statusCode, r.method).toBe(404);
        continue;
      }
      expect(reply.statusCode, `${r.method}: ${reply.body}`).toBe(200);
      expect(reply.json(), `${r.method}: ${reply.body}`).not.toHaveProperty('Err');
      expect(reply.headers['content-type']).toContain('application/vnd.docker.plugins.v1+json');
    }
    // Everything the session created, it also removed.
    expect(await host.listLinks()).toEqual([]);
    expect(firewall.rules).toEqual([]);
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
    expect((await pending).json()).toEqual({ Scope: 'local', ConnectivityScope: 'local' });
  });

  test('a call that overruns its deadline gets an Err, and the daemon keeps answering', async () => {
    const { call } = setup({ ready: new Promise<void>(() => undefined), handlerTimeoutMs: 100 });
    const reply = await call('NetworkDriver.GetCapabilities', '');
    expect(reply.json().Err).toMatch(/NetworkDriver.GetCapabilities did not finish within 100 ms/);
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
