import { describe, expect, test } from 'vitest';
import { createBridgeDriver } from '../../../drivers/bridge/index.js';
import type { Driver } from '../../../drivers/driver.js';
import { createNullDriver } from '../../../drivers/null/index.js';
import { methods } from '../../../plugin-spec/methods.js';
import { buildApp } from '../../../src/api/app.js';
import { registerNetworkRoutes } from '../../../src/api/network-routes.js';
import { CnmRepository } from '../../../src/cnm/repository.js';
import { NetworkService } from '../../../src/cnm/service.js';
import type { NetworkType } from '../../../src/core/model.js';
import { RecordingFirewall } from '../../../src/host/firewall.js';
import { RecordingHostNet } from '../../../src/host/recording.js';
import { CommandError } from '../../../src/host/runner.js';
import { EP_1, NET_A, silentLog } from '../bridge/fixtures.js';
import { MemoryKvStore } from '../cnm/memory-kv.js';

function setup() {
  const host = new RecordingHostNet();
  const firewall = new RecordingFirewall();
  const drivers = new Map<NetworkType, Driver>([['bridge', createBridgeDriver({ host, log: silentLog })], ['null', createNullDriver({ host, log: silentLog })]]);
  const store = new MemoryKvStore();
  const service = new NetworkService({ repo: new CnmRepository(store), drivers, firewall, probe: async () => 'free', log: silentLog, sandboxExists: () => true });
  const app = buildApp({ log: silentLog, ready: Promise.resolve(), handlerTimeoutMs: 5_000, bodyLimit: 1024 * 1024 }, (define) => {
    registerNetworkRoutes(define, { service: () => service, scope: { scope: 'local', connectivityScope: 'local' } });
  });
  const call = async (method: keyof typeof methods, body: unknown) => {
    const reply = await app.inject({ method: 'POST', url: `/${method}`, payload: JSON.stringify(body) });
    const json = reply.json() as Record<string, unknown>;
    if (json.Err === undefined) expect(methods[method].response.safeParse(json).success, `${method} reply ${reply.body}`).toBe(true);
    return { status: reply.statusCode, json };
  };
  return { call, host, firewall, store };
}

const nullOptions = (extra: Record<string, string> = {}) => ({ 'com.docker.network.generic': { 'tsnet.type': 'null', ...extra } });

describe('the null type', () => {
  test('a network and an endpoint touch nothing in the kernel; Join names no interface and turns the gateway service off', async () => {
    const { call, host, firewall } = setup();
    expect((await call('NetworkDriver.GwAllocCheck', { Options: nullOptions() })).json).toEqual({ SkipIPv4: true, SkipIPv6: true });
    expect((await call('NetworkDriver.CreateNetwork', { NetworkID: NET_A, Options: nullOptions(), IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.237.0.0/24' }] })).json).toEqual({});
    // No MAC is made up for an endpoint that has no interface.
    expect((await call('NetworkDriver.CreateEndpoint', { NetworkID: NET_A, EndpointID: EP_1, Interface: { Address: '10.237.0.2/24' } })).json).toEqual({ Interface: {} });
    expect((await call('NetworkDriver.Join', { NetworkID: NET_A, EndpointID: EP_1, SandboxKey: '/var/run/docker/netns/x' })).json).toEqual({ StaticRoutes: [], DisableGatewayService: true });
    expect((await call('NetworkDriver.Leave', { NetworkID: NET_A, EndpointID: EP_1 })).json).toEqual({});
    expect((await call('NetworkDriver.DeleteEndpoint', { NetworkID: NET_A, EndpointID: EP_1 })).json).toEqual({});
    expect((await call('NetworkDriver.DeleteNetwork', { NetworkID: NET_A })).json).toEqual({});
    expect(host.dump()).toBe('');
    expect(firewall.rules).toEqual([]);
  });

  test('the address plan is not checked: the null IPAM\'s 0.0.0.0/0 is accepted (a bridge refuses it)', async () => {
    const { call } = setup();
    const nullIpam = [{ AddressSpace: 'null', Pool: '0.0.0.0/0' }];
    expect((await call('NetworkDriver.CreateNetwork', { NetworkID: NET_A, Options: nullOptions(), IPv4Data: nullIpam })).json).toEqual({});
    const bridge = await call('NetworkDriver.CreateNetwork', { NetworkID: 'b'.repeat(64), Options: {}, IPv4Data: nullIpam });
    expect(bridge.json.Err).toMatch(/pool 0\.0\.0\.0\/0 covers/);
  });

  test('an option it does not know is refused with its name, and nothing is stored', async () => {
    const { call, store } = setup();
    const r = await call('NetworkDriver.CreateNetwork', { NetworkID: NET_A, Options: nullOptions({ parent: 'eth0' }), IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.237.0.0/24' }] });
    expect(r.json.Err).toMatch(/^the null driver does not know network option "parent"; known options: tsnet\.type/);
    expect(await store.list('')).toEqual([]);
  });
});

describe('a command the host refuses where tsnet expected none to fail', () => {
  test('reaches Docker as a clear refusal (the command and the kernel\'s words), not as an internal error', async () => {
    const host = new RecordingHostNet();
    const failing: Driver = {
      ...createNullDriver({ host, log: silentLog }),
      createEndpoint: async () => {
        throw new CommandError(['ip', '-json', 'link', 'show', 'dev', 'eth9'], { code: 255, stdout: '', stderr: 'Error: Operation not permitted' });
      },
    };
    const drivers = new Map<NetworkType, Driver>([['null', failing]]);
    const service = new NetworkService({ repo: new CnmRepository(new MemoryKvStore()), drivers, firewall: new RecordingFirewall(), probe: async () => 'free', log: silentLog, sandboxExists: () => true });
    const app = buildApp({ log: silentLog, ready: Promise.resolve(), handlerTimeoutMs: 5_000, bodyLimit: 1024 * 1024 }, (define) => {
      registerNetworkRoutes(define, { service: () => service, scope: { scope: 'local', connectivityScope: 'local' } });
    });
    const post = (method: string, body: unknown) => app.inject({ method: 'POST', url: `/${method}`, payload: JSON.stringify(body) });
    expect((await post('NetworkDriver.CreateNetwork', { NetworkID: NET_A, Options: nullOptions(), IPv4Data: [] })).statusCode).toBe(200);
    const reply = await post('NetworkDriver.CreateEndpoint', { NetworkID: NET_A, EndpointID: EP_1, Interface: {} });
    expect(reply.statusCode).toBe(200);
    expect(reply.json()).toEqual({ Err: 'ip -json link show dev eth9: exit 255: Error: Operation not permitted; the host refused a command tsnet ran; see the tsnet log, fix what it names, then retry' });
    expect(host.dump()).toBe('');
  });
});
