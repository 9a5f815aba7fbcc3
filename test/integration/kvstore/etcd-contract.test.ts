import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { kvStoreContract } from '../../../kvstore/conformance.js';
import { EtcdKvStore, prefixEnd, redactUrl } from '../../../kvstore/etcd/etcd-kv-store.js';
import { startTestEtcd, type TestEtcd } from '../../support/etcd.js';
import { waitFor } from '../../support/exec.js';

let etcd: TestEtcd;
beforeAll(async () => { etcd = await startTestEtcd(); }, 60_000);
afterAll(async () => { await etcd?.destroy(); });

const open = (prefix = `test-${randomBytes(4).toString('hex')}/`, endpoint?: string) =>
  new EtcdKvStore({ endpoints: [endpoint ?? etcd.endpoint], prefix, dialTimeoutMs: 2_000, callTimeoutMs: 2_000 });

kvStoreContract('EtcdKvStore', async () => {
  const store = open();
  return { store, cleanup: async () => { await store.txn([], [{ type: 'delete-prefix', prefix: '' }]); await store.close(); } };
});

describe('EtcdKvStore specifics', () => {
  test('keys are confined to the prefix', async () => {
    const a = open('tenant-a/');
    const b = open('tenant-b/');
    await a.put('k', 'from-a');
    expect(await b.get('k')).toBeUndefined();
    expect((await a.list('')).map((e) => e.key)).toEqual(['k']);
    await a.txn([], [{ type: 'delete-prefix', prefix: '' }]);
    await a.close();
    await b.close();
  });

  test('an unreachable etcd fails fast with an error naming etcd and the endpoint, never credentials', async () => {
    const store = new EtcdKvStore({ endpoints: ['http://user:secret@127.0.0.1:1'], prefix: 'x/', dialTimeoutMs: 1_000, callTimeoutMs: 1_000, auth: { username: 'user', password: 'secret' } });
    const started = Date.now();
    const err = await store.get('k').then(() => undefined, (e: Error) => e);
    expect(err?.message).toMatch(/in etcd http:\/\/127\.0\.0\.1:1/);
    expect(`${err?.message} ${(err as { hint?: string })?.hint}`).not.toContain('secret');
    expect(Date.now() - started).toBeLessThan(15_000);
    await store.close();
  });

  test('a read that misses its deadline (etcd stalled, as behind a slow disk) is asked once more; a write is never sent twice', async () => {
    const calls: string[] = [];
    const store = new EtcdKvStore({ endpoints: [etcd.endpoint], prefix: `stall-${randomBytes(4).toString('hex')}/`, dialTimeoutMs: 2_000, callTimeoutMs: 1_000, onCall: (c) => calls.push(`${c.op}:${c.ok ? 'ok' : 'late'}`) });
    await store.put('k', 'v');
    // Frozen for 1.5 s: the first attempt misses its 1 s deadline, the second is answered.
    let resumed = etcd.pause(1_500);
    expect((await store.get('k'))?.value).toBe('v');
    await resumed;
    expect(calls.slice(-2)).toEqual(['read:late', 'read:ok']);
    resumed = etcd.pause(1_500);
    await expect(store.put('k2', 'v')).rejects.toThrow(/could not write in etcd/);
    await resumed;
    expect(calls.filter((c) => c.startsWith('write:'))).toEqual(['write:ok', 'write:late']);
    await store.txn([], [{ type: 'delete-prefix', prefix: '' }]);
    await store.close();
  }, 30_000);

  test('a watch survives an etcd restart and delivers what happened after it', async () => {
    const store = open();
    const seen: string[] = [];
    const statuses: string[] = [];
    const watch = await store.watch('r/', {
      onEvents: (events) => events.forEach((e) => seen.push(e.type === 'put' ? e.entry.key : `-${e.key}`)),
      onStatus: (status) => statuses.push(status),
    });
    await store.put('r/1', 'a');
    await waitFor(async () => seen.includes('r/1'), 'the first event', 5_000);
    await etcd.stop();
    await etcd.start();
    await waitFor(async () => (await store.put('r/2', 'b').then(() => true, () => false)), 'etcd to accept writes again', 30_000, 500);
    await waitFor(async () => seen.includes('r/2'), 'the event written after the restart', 30_000);
    expect(seen.filter((k) => k === 'r/1')).toHaveLength(1);
    expect(statuses).toContain('disconnected');
    await watch.cancel();
    await store.txn([], [{ type: 'delete-prefix', prefix: '' }]);
    await store.close();
  }, 60_000);

  test('helpers: prefix range end and URL redaction', () => {
    expect(prefixEnd(Buffer.from('ab'))).toEqual(Buffer.from('ac'));
    expect(prefixEnd(Buffer.from([0x61, 0xff]))).toEqual(Buffer.from('b'));
    expect(redactUrl('https://u:p@h:2379')).toBe('https://h:2379');
  });
});
