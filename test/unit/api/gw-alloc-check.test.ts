import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { createBridgeDriver } from '../../../drivers/bridge/index.js';
import type { Driver } from '../../../drivers/driver.js';
import { createOverlayDriver } from '../../../drivers/overlay/index.js';
import { methods } from '../../../plugin-spec/methods.js';
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

/** The GwAllocCheck bodies dockerd 28.5.2 really sent (plugin-spec/fixtures). */
const recorded = readFileSync(new URL('../../../plugin-spec/fixtures/docker-28.5-requests.jsonl', import.meta.url), 'utf8')
  .trim().split('\n').map((l) => JSON.parse(l) as { method: string; body: string })
  .filter((r) => r.method === 'NetworkDriver.GwAllocCheck');

function setup(types: readonly NetworkType[] = ['bridge', 'overlay']) {
  const host = new RecordingHostNet();
  const all: Record<string, Driver> = {
    bridge: createBridgeDriver({ host, log: silentLog }),
    overlay: createOverlayDriver({ host, log: silentLog, hostId: 'h', defaultPort: 4789, globalScope: false, underlay: async () => ({ address: '198.19.0.1', mtu: 1500 }) }),
  };
  const drivers = new Map<NetworkType, Driver>(types.map((t) => [t, all[t] as Driver]));
  const store = new MemoryKvStore();
  const service = new NetworkService({ repo: new CnmRepository(store), drivers, firewall: new RecordingFirewall(), probe: async () => 'free', log: silentLog, sandboxExists: () => true });
  const app = buildApp({ log: silentLog, ready: Promise.resolve(), handlerTimeoutMs: 5_000, bodyLimit: 1024 * 1024 }, (define) => {
    registerPluginRoutes(define);
    registerNetworkRoutes(define, { service: () => service, scope: { scope: 'local', connectivityScope: 'local' } });
  });
  const call = async (method: string, body: unknown) => {
    const reply = await app.inject({ method: 'POST', url: `/${method}`, headers: { accept: 'application/vnd.docker.plugins.v1.2+json' }, payload: typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: reply.statusCode, json: reply.json() as Record<string, unknown> };
  };
  const check = (generic: Record<string, unknown> | null, extra: Record<string, unknown> = {}) =>
    call('NetworkDriver.GwAllocCheck', { Options: { 'com.docker.network.enable_ipv4': true, 'com.docker.network.enable_ipv6': true, 'com.docker.network.generic': generic, ...extra } });
  return { call, check, store, host };
}

describe('GwAllocChecker (Docker 28+)', () => {
  test('GetCapabilities announces it, in a reply dockerd 20.10 and 28+ both accept', async () => {
    const { call } = setup();
    const reply = await call('NetworkDriver.GetCapabilities', '');
    expect(reply.json).toEqual({ Scope: 'local', ConnectivityScope: 'local', GwAllocChecker: true });
    expect(methods['NetworkDriver.GetCapabilities'].response.safeParse(reply.json).success).toBe(true);
  });

  test('every GwAllocCheck dockerd 28.5 sent describes a bridge network, which keeps its gateways', async () => {
    const { call, store } = setup();
    expect(recorded.length).toBeGreaterThan(0);
    for (const r of recorded) {
      const reply = await call('NetworkDriver.GwAllocCheck', r.body);
      expect(reply, r.body).toEqual({ status: 200, json: { SkipIPv4: false, SkipIPv6: false } });
      expect(methods['NetworkDriver.GwAllocCheck'].response.safeParse(reply.json).success).toBe(true);
    }
    expect(await store.list(''), 'GwAllocCheck stores nothing').toEqual([]);
  });

  test('an overlay with docker_gwbridge or --internal needs no gateway, one with its default local gateway needs both; a bridge needs both, also when the type is spelled out or options are absent', async () => {
    const { call, check } = setup();
    expect((await check({ 'tsnet.type': 'overlay', 'tsnet.overlay.name': 'blue', 'tsnet.overlay.gateway': 'docker_gwbridge' })).json).toEqual({ SkipIPv4: true, SkipIPv6: true });
    expect((await check({ 'tsnet.type': 'overlay', 'tsnet.overlay.name': 'blue' }, { 'com.docker.network.internal': true })).json).toEqual({ SkipIPv4: true, SkipIPv6: true });
    expect((await check({ 'tsnet.type': 'overlay', 'tsnet.overlay.name': 'blue' })).json).toEqual({ SkipIPv4: false, SkipIPv6: false });
    expect((await check({ 'tsnet.type': 'bridge' })).json).toEqual({ SkipIPv4: false, SkipIPv6: false });
    expect((await check(null)).json).toEqual({ SkipIPv4: false, SkipIPv6: false });
    expect((await call('NetworkDriver.GwAllocCheck', { Options: null })).json).toEqual({ SkipIPv4: false, SkipIPv6: false });
    expect((await call('NetworkDriver.GwAllocCheck', {})).json).toEqual({ SkipIPv4: false, SkipIPv6: false });
  });

  test('a bridge family in isolated mode needs no gateway, nor IPv4 of an --internal network with inhibit_ipv4 (Docker\'s own rule)', async () => {
    const { check } = setup();
    const mode4 = 'com.docker.network.bridge.gateway_mode_ipv4';
    const mode6 = 'com.docker.network.bridge.gateway_mode_ipv6';
    const inhibit = 'com.docker.network.bridge.inhibit_ipv4';
    const internal = { 'com.docker.network.internal': true };
    expect((await check({ [mode4]: 'isolated' }, internal)).json).toEqual({ SkipIPv4: true, SkipIPv6: false });
    expect((await check({ [mode4]: 'isolated', [mode6]: 'isolated' }, internal)).json).toEqual({ SkipIPv4: true, SkipIPv6: true });
    expect((await check({ [mode6]: 'isolated' }, internal)).json).toEqual({ SkipIPv4: false, SkipIPv6: true });
    expect((await check({ [inhibit]: 'true' }, internal)).json).toEqual({ SkipIPv4: true, SkipIPv6: false });
    // Without --internal, inhibit_ipv4 leaves the gateway to the user, who still needs it reserved.
    expect((await check({ [inhibit]: 'true' })).json).toEqual({ SkipIPv4: false, SkipIPv6: false });
    expect((await check({ [mode4]: 'routed' }, internal)).json).toEqual({ SkipIPv4: false, SkipIPv6: false });
    // A malformed value is CreateNetwork's to refuse (with the reason); the gateway is kept.
    expect((await check({ [inhibit]: 'maybe' }, internal)).json).toEqual({ SkipIPv4: false, SkipIPv6: false });
  });

  test('an unknown or unavailable tsnet.type is refused with what to pass instead', async () => {
    const { check } = setup(['bridge']);
    expect(await check({ 'tsnet.type': 'vlan' })).toEqual({ status: 200, json: { Err: 'network option "tsnet.type": "vlan" is not a tsnet network type; use one of bridge, e.g. -o tsnet.type=bridge' } });
    expect(await check({ 'tsnet.type': 'overlay' })).toEqual({ status: 200, json: { Err: 'network option "tsnet.type": "overlay" is not available in this tsnet daemon; use one of bridge, e.g. -o tsnet.type=bridge' } });
  });

  test('malformed options are refused by name, never with a 500', async () => {
    const { call, check, store, host } = setup();
    const number = await check({ 'tsnet.type': 7 });
    expect(number).toEqual({ status: 200, json: { Err: expect.stringMatching(/^network option "tsnet.type" has a number value; option values are strings; pass it as -o tsnet.type=VALUE$/) } });
    const list = await check({ 'tsnet.type': ['overlay'] });
    expect(list.status).toBe(400);
    expect(list.json.Err).toMatch(/^NetworkDriver.GwAllocCheck: Options\["com.docker.network.generic"\]\["tsnet.type"\]: expected a string option value/);
    const notMap = await call('NetworkDriver.GwAllocCheck', { Options: ['tsnet.type=overlay'] });
    expect(notMap.status).toBe(400);
    expect(notMap.json.Err).toMatch(/^NetworkDriver.GwAllocCheck: Options: expected a map of options/);
    const flag = await check({}, { 'com.docker.network.enable_ipv4': 'false' });
    expect(flag.json.Err).toMatch(/Options\["com.docker.network.enable_ipv4"\]: expected true or false, got "false"/);
    for (const body of ['null', '[]', '{"Options":']) expect((await call('NetworkDriver.GwAllocCheck', body)).status, body).toBe(400);
    expect(await store.list('')).toEqual([]);
    expect(await host.listLinks()).toEqual([]);
  });
});
