import { describe, expect, test } from 'vitest';
import { createBridgeDriver } from '../../../drivers/bridge/index.js';
import type { Driver } from '../../../drivers/driver.js';
import { buildApp } from '../../../src/api/app.js';
import { registerNetworkRoutes } from '../../../src/api/network-routes.js';
import { CnmRepository } from '../../../src/cnm/repository.js';
import { NetworkService } from '../../../src/cnm/service.js';
import type { NetworkType } from '../../../src/core/model.js';
import type { HostOp } from '../../../src/host/hostnet.js';
import { RecordingFirewall } from '../../../src/host/firewall.js';
import { RecordingHostNet } from '../../../src/host/recording.js';
import { NET_A, NET_B, silentLog } from '../bridge/fixtures.js';
import { MemoryKvStore } from '../cnm/memory-kv.js';

/** A host whose every op takes `delayMs`, as an overloaded one does. */
class SlowHost extends RecordingHostNet {
  delayMs = 0;
  override async apply(op: HostOp): Promise<boolean> {
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    return super.apply(op);
  }
}

function setup(handlerTimeoutMs: number) {
  const host = new SlowHost();
  const store = new MemoryKvStore();
  const drivers = new Map<NetworkType, Driver>([['bridge', createBridgeDriver({ host, log: silentLog })]]);
  const service = new NetworkService({ repo: new CnmRepository(store), drivers, firewall: new RecordingFirewall(), probe: async () => 'free', log: silentLog, sandboxExists: () => true });
  const app = buildApp({ log: silentLog, ready: Promise.resolve(), handlerTimeoutMs, bodyLimit: 1024 * 1024 }, (define) => {
    registerNetworkRoutes(define, { service: () => service, scope: { scope: 'local', connectivityScope: 'local' } });
  });
  const create = (id: string, subnet: string) => app.inject({ method: 'POST', url: '/NetworkDriver.CreateNetwork', payload: JSON.stringify({ NetworkID: id, Options: {}, IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: subnet, Gateway: subnet.replace(/0\/24$/, '1/24') }] }) });
  return { host, store, create };
}

/** Waits (up to 10 s) until `done` holds: the rolled-back work finishes after Docker's answer. */
async function eventually(done: () => Promise<boolean>): Promise<void> {
  for (let waited = 0; waited < 10_000; waited += 50) {
    if (await done()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('a call past its deadline', () => {
  test('is answered at the deadline, stops at its next kernel step and rolls back: nothing stays, and the network is free again', async () => {
    const { host, store, create } = setup(300);
    host.delayMs = 120; // the bridge plan has several steps: it cannot finish in 300 ms
    const reply = await create(NET_A, '10.99.0.0/24');
    expect(reply.json()).toEqual({ Err: expect.stringMatching(/^NetworkDriver.CreateNetwork did not finish within 300 ms; .*rolled back/) });
    await eventually(async () => host.dump().includes('remove-link') && (await host.listLinks()).length === 0 && (await store.list('')).length === 0);
    expect(host.dump()).toMatch(/^apply ensure-bridge/);
    expect(host.dump()).toMatch(/apply remove-link/);
    // It stopped part way: fewer steps ran than the whole plan has (measured on a fast host).
    const fast = setup(300);
    await fast.create(NET_A, '10.99.0.0/24');
    const steps = (dump: string) => dump.split('\n').filter((l) => /^(apply|noop) ensure-/.test(l)).length;
    expect(steps(host.dump())).toBeLessThan(steps(fast.host.dump()));
    expect(await host.listLinks()).toEqual([]);
    expect(await store.list('')).toEqual([]);
    host.delayMs = 0;
    expect((await create(NET_A, '10.99.0.0/24')).json()).toEqual({});
  });

  test('a call that waited past its deadline behind another on the same network never starts', async () => {
    const { host, create } = setup(300);
    host.delayMs = 120;
    const first = create(NET_A, '10.99.0.0/24');
    const second = create(NET_A, '10.99.0.0/24'); // same network: queued behind the first
    const [a, b] = await Promise.all([first, second]);
    expect(a.json()).toMatchObject({ Err: expect.stringMatching(/did not finish within 300 ms/) });
    expect(b.json()).toMatchObject({ Err: expect.stringMatching(/did not finish within 300 ms/) });
    await eventually(async () => host.dump().includes('remove-link'));
    expect(await host.listLinks()).toEqual([]);
    // Only the first ever touched the host (one bridge created, then removed).
    expect(host.dump().split('\n').filter((l) => l.startsWith('apply ensure-bridge'))).toHaveLength(1);
  });

  test('a call that finishes in time is not disturbed, and neither is one on another network', async () => {
    const { host, create } = setup(2_000);
    host.delayMs = 5;
    const [a, b] = await Promise.all([create(NET_A, '10.99.0.0/24'), create(NET_B, '10.98.0.0/24')]);
    expect([a.json(), b.json()]).toEqual([{}, {}]);
    expect((await host.listLinks()).length).toBe(2);
  });
});
