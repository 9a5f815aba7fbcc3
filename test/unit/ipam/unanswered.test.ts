import { describe, expect, test } from 'vitest';
import type { ReplyWatch } from '../../../src/core/reply.js';
import { AddressSpace } from '../../../src/ipam/address-space.js';
import { IpamSync } from '../../../src/ipam/ipam-sync.js';
import { silentLog } from '../bridge/fixtures.js';
import { MemoryKvStore } from '../cnm/memory-kv.js';

/** A reply that either reaches Docker (deliver()) or never does (a crash, a client gone). */
function replyWatch(): ReplyWatch & { deliver(): void } {
  const listeners: Array<() => void> = [];
  return { onDelivered: (l) => listeners.push(l), deliver: () => listeners.forEach((l) => l()) };
}
const settle = () => new Promise((resolve) => setTimeout(resolve, 30));
const MARKERS = 'ipam/v1/tsnet-local/unanswered/';

async function pooled(store = new MemoryKvStore(), deadlineMs?: number) {
  const space = new AddressSpace('tsnet-local', false, store, 'host-a', silentLog, deadlineMs);
  const pool = await space.requestPool({ pool: '10.60.0.0/24', v6: false, options: {} });
  return { store, space, pool };
}

describe('addresses whose RequestAddress reply never reached Docker', () => {
  test('a delivered reply clears its marker; the address then stays refused to another request, across restarts', async () => {
    const { store, space, pool } = await pooled();
    const reply = replyWatch();
    expect(await space.requestAddress(pool, '10.60.0.50', false, reply)).toBe('10.60.0.50/24');
    expect(await store.list(MARKERS)).toHaveLength(1);
    reply.deliver();
    await settle();
    expect(await store.list(MARKERS)).toEqual([]);
    const restarted = new AddressSpace('tsnet-local', false, store, 'host-a', silentLog);
    await expect(restarted.requestAddress(pool, '10.60.0.50', false, replyWatch())).rejects.toThrow(/already in use/);
  });

  test('cut off by a crash: after the restart the retry of the same --ip gets it at once', async () => {
    const { store, space, pool } = await pooled();
    await space.requestAddress(pool, '10.60.0.50', false, replyWatch()); // never delivered: the daemon died
    const restarted = new AddressSpace('tsnet-local', false, store, 'host-a', silentLog);
    const retry = replyWatch();
    expect(await restarted.requestAddress(pool, '10.60.0.50', false, retry)).toBe('10.60.0.50/24');
    retry.deliver();
    await settle();
    expect(await store.list(MARKERS)).toEqual([]);
    // Now Docker has it: a third request is refused.
    await expect(new AddressSpace('tsnet-local', false, store, 'host-a', silentLog).requestAddress(pool, '10.60.0.50', false, replyWatch())).rejects.toThrow(/already in use/);
  });

  test('within one run, an unanswered address is kept until the answer deadline has passed', async () => {
    const { space, pool } = await pooled(new MemoryKvStore(), 40);
    await space.requestAddress(pool, '10.60.0.51', false, replyWatch());
    // The reply may still be on its way: a concurrent request must not get the address.
    await expect(space.requestAddress(pool, '10.60.0.51', false, replyWatch())).rejects.toThrow(/already in use/);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(await space.requestAddress(pool, '10.60.0.51', false, replyWatch())).toBe('10.60.0.51/24');
  });

  test('another host\'s address, a gateway, or an address allocated without a watched reply is never taken over', async () => {
    const store = new MemoryKvStore();
    const a = new AddressSpace('tsnet-global', true, store, 'host-a', silentLog);
    const pool = await a.requestPool({ pool: '10.61.0.0/24', v6: false, options: {} });
    await a.requestAddress(pool, '10.61.0.9', false, replyWatch());
    const b = new AddressSpace('tsnet-global', true, store, 'host-b', silentLog);
    await b.requestPool({ pool: '10.61.0.0/24', v6: false, options: {} });
    await expect(b.requestAddress(pool, '10.61.0.9', false, replyWatch())).rejects.toThrow(/held by host host-a/);
    const { store: s2, space, pool: p2 } = await pooled();
    await space.requestAddress(p2, '10.60.0.1', true, replyWatch());
    await space.requestAddress(p2, '10.60.0.7', false);
    const restarted = new AddressSpace('tsnet-local', false, s2, 'host-a', silentLog);
    await expect(restarted.requestAddress(p2, '10.60.0.1', false, replyWatch())).rejects.toThrow(/already in use/);
    await expect(restarted.requestAddress(p2, '10.60.0.7', false, replyWatch())).rejects.toThrow(/already in use/);
  });

  test('a marker left by an earlier holder of the address does not make a new holder doubtful', async () => {
    const { store, space, pool } = await pooled();
    await space.requestAddress(pool, '10.60.0.52', false, replyWatch());
    const marker = (await store.list(MARKERS))[0];
    await space.releaseAddress(pool, '10.60.0.52');
    expect(await store.list(MARKERS)).toEqual([]);
    const answered = replyWatch();
    await space.requestAddress(pool, '10.60.0.52', false, answered);
    answered.deliver();
    await settle();
    if (marker) await store.put(marker.key, marker.value); // a stale marker, as a crash could leave
    const restarted = new AddressSpace('tsnet-local', false, store, 'host-a', silentLog);
    await expect(restarted.requestAddress(pool, '10.60.0.52', false, replyWatch())).rejects.toThrow(/already in use/);
  });

  test('the convergence with Docker releases an unanswered address at its first look; others wait two looks', async () => {
    const { store, space, pool } = await pooled();
    await space.requestAddress(pool, '10.60.0.60', false, replyWatch()); // cut off
    const delivered = replyWatch();
    await space.requestAddress(pool, '10.60.0.61', false, delivered);
    delivered.deliver();
    await settle();
    const restarted = new AddressSpace('tsnet-local', false, store, 'host-a', silentLog);
    expect((await restarted.holdings())[0]?.addresses).toEqual([
      expect.objectContaining({ ip: '10.60.0.60', doubtful: true }),
      expect.objectContaining({ ip: '10.60.0.61', doubtful: false }),
    ]);
    const sync = new IpamSync({ spaces: [restarted], ipamName: 'tsnet', log: silentLog });
    const report = await sync.converge({ networks: [{ id: 'n1', ipamDriver: 'tsnet', subnets: [{ subnet: '10.60.0.0/24', aux: [] }] }], endpoints: async () => [] });
    expect(report).toMatchObject({ releasedAddresses: ['tsnet-local 10.60.0.60'], waiting: 1 });
    expect(await store.list(MARKERS)).toEqual([]);
  });

  test('releasing the pool removes its markers', async () => {
    const { store, space, pool } = await pooled();
    await space.requestAddress(pool, undefined, false, replyWatch());
    await space.releasePool(pool);
    expect(await store.list('ipam/v1/tsnet-local/')).toEqual([expect.objectContaining({ key: 'ipam/v1/tsnet-local/pools-version' })]);
  });
});
