import { describe, expect, test } from 'vitest';
import { kvStoreContract } from '../../../kvstore/conformance.js';
import type { KvEvent } from '../../../kvstore/kvstore.js';
import { MemoryKvStore } from './memory-kv.js';

// The store the unit tests of cnm, ipam, overlay and the API stand on keeps the same contract
// as the file and etcd stores, so what those tests prove holds against the real backends.
kvStoreContract('MemoryKvStore', async () => {
  const store = new MemoryKvStore();
  return { store, cleanup: () => store.close() };
});

describe('MemoryKvStore test hooks', () => {
  test('failWrites refuses every writing transaction before it changes anything; reads still work', async () => {
    const store = new MemoryKvStore();
    const r = await store.put('f/a', '1');
    const seen: number[] = [];
    await store.watch('f/', { onEvents: (_events, revision) => seen.push(revision) });
    store.failWrites = true;
    await expect(store.txn([], [{ type: 'put', key: 'f/b', value: '2' }, { type: 'delete', key: 'f/a' }])).rejects.toMatchObject({ code: 'TSNET_KV_IO', kind: 'unavailable' });
    await expect(store.put('f/c', '3')).rejects.toThrow(/injected store failure/);
    expect(await store.delete('f/missing')).toBe(false); // changes nothing, so it does not fail
    expect((await store.list('f/')).map((e) => [e.key, e.value])).toEqual([['f/a', '1']]);
    expect(await store.revision()).toBe(r);
    store.failWrites = false;
    const r2 = await store.put('f/b', '2');
    expect(r2).toBe(r + 1);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(seen).toEqual([r2]);
    await store.close();
  });

  test('expire ends a lease at once: its keys go in one revision, then onLost fires with the reason', async () => {
    const store = new MemoryKvStore();
    const lease = await store.grantLease(60);
    const lost: string[] = [];
    lease.onLost((reason) => lost.push(reason));
    await store.txn([], [{ type: 'put', key: 'e/a', value: '1', lease: lease.id }, { type: 'put', key: 'e/b', value: '2', lease: lease.id }, { type: 'put', key: 'e/c', value: '3' }]);
    const events: Array<[number, readonly KvEvent[]]> = [];
    await store.watch('e/', { onEvents: (e, revision) => events.push([revision, e]) });
    await store.expire(lease.id, 'holder vanished');
    expect(lost).toEqual(['holder vanished']);
    expect((await store.list('e/')).map((e) => e.key)).toEqual(['e/c']);
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(events).toEqual([[await store.revision(), [{ type: 'delete', key: 'e/a', modRevision: await store.revision() }, { type: 'delete', key: 'e/b', modRevision: await store.revision() }]]]);
    await expect(store.put('e/d', '4', { lease: lease.id })).rejects.toMatchObject({ code: 'TSNET_KV_LEASE_GONE', kind: 'not-found' });
    const late: string[] = [];
    lease.onLost((reason) => late.push(reason)); // registered after the loss: told at once
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(late).toEqual([`lease ${lease.id} no longer exists`]);
    await store.close();
  });

  test('a closed store refuses every call', async () => {
    const store = new MemoryKvStore();
    await store.close();
    await store.close();
    await expect(store.get('k')).rejects.toMatchObject({ code: 'TSNET_KV_CLOSED' });
    await expect(store.put('k', 'v')).rejects.toMatchObject({ code: 'TSNET_KV_CLOSED' });
    await expect(store.watch('', { onEvents: () => undefined })).rejects.toMatchObject({ code: 'TSNET_KV_CLOSED' });
  });
});
