import { afterEach, expect, test, vi } from 'vitest';
import { HostLiveness } from '../../../src/ipam/host-liveness.js';
import { hostKey } from '../../../src/ipam/records.js';
import { waitFor } from '../../support/exec.js';
import { silentLog } from '../bridge/fixtures.js';
import { MemoryKvStore } from '../cnm/memory-kv.js';

afterEach(() => {
  vi.useRealTimers();
});

test('a stopped daemon lets its lease go without revoking it: its keys stay for the TTL, then go, and a successor keeps them by publishing under its own lease', async () => {
  const store = new MemoryKvStore();
  const first = new HostLiveness(store, 'h1', silentLog);
  first.start();
  await waitFor(async () => first.current() !== undefined, { what: 'the first daemon to register', timeoutMs: 2_000, intervalMs: 5 });
  const old = first.current() as string;
  await store.put('overlay/v1/net/blue/ep/e1', '{}', { lease: old });

  vi.useFakeTimers();
  await first.stop();
  // A revoke would have deleted both at once, and every other host would have withdrawn h1.
  expect((await store.get(hostKey('h1')))?.lease).toBe(old);
  expect(await store.get('overlay/v1/net/blue/ep/e1')).toBeDefined();

  // The next daemon registers and re-publishes before the old lease runs out (10 s).
  const second = new HostLiveness(store, 'h1', silentLog);
  const renewed: string[] = [];
  second.onRenewed(() => renewed.push(second.current() as string));
  second.start();
  await vi.waitFor(() => expect(renewed).toHaveLength(1));
  await store.put('overlay/v1/net/blue/ep/e1', '{}', { lease: second.current() as string });
  await vi.advanceTimersByTimeAsync(10_000);
  expect((await store.get(hostKey('h1')))?.lease).toBe(second.current());
  expect(await store.get('overlay/v1/net/blue/ep/e1')).toBeDefined();

  // With no successor, the lease runs out and takes the host's keys with it, as after a crash.
  await second.stop();
  await vi.advanceTimersByTimeAsync(9_000);
  expect(await store.get(hostKey('h1'))).toBeDefined();
  await vi.advanceTimersByTimeAsync(1_000);
  expect(await store.get(hostKey('h1'))).toBeUndefined();
  expect(await store.get('overlay/v1/net/blue/ep/e1')).toBeUndefined();
});
