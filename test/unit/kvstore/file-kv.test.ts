import { appendFile, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { kvStoreContract } from '../../../kvstore/conformance.js';
import { openFileKvStore } from '../../../kvstore/local/index.js';
import { tempDir } from './temp-dir.js';

kvStoreContract('FileKvStore', async () => {
  const dir = await tempDir();
  const store = await openFileKvStore({ dir });
  return { store, cleanup: () => store.close() };
});

describe('FileKvStore on disk', () => {
  test('an empty store is at revision 1', async () => {
    const store = await openFileKvStore({ dir: await tempDir() });
    expect(await store.revision()).toBe(1);
    await store.close();
  });

  test('reopening keeps data, create and mod revisions, and the store revision', async () => {
    const dir = await tempDir();
    const a = await openFileKvStore({ dir });
    const r1 = await a.put('k/1', 'v1');
    await a.put('k/2', 'old');
    const r3 = await a.txn([], [{ type: 'put', key: 'k/2', value: 'v2' }, { type: 'delete', key: 'k/1' }]);
    await a.delete('k/missing');
    await a.close();
    const b = await openFileKvStore({ dir });
    expect(await b.revision()).toBe(r3.revision);
    expect(await b.list('k/')).toEqual([{ key: 'k/2', value: 'v2', createRevision: r1 + 1, modRevision: r3.revision }]);
    expect(await b.put('k/3', 'v3')).toBe(r3.revision + 1);
    await b.close();
  });

  test('a torn or corrupt log tail is cut off at the last whole transaction', async () => {
    const dir = await tempDir();
    const wal = join(dir, 'wal.log');
    const a = await openFileKvStore({ dir });
    await a.put('k/1', 'one');
    await a.txn([], [{ type: 'put', key: 'k/2', value: 'two' }, { type: 'put', key: 'k/3', value: 'three' }]);
    await a.close();
    await truncate(wal, (await stat(wal)).size - 5); // the second transaction is torn
    const b = await openFileKvStore({ dir });
    expect((await b.list('k/')).map((e) => e.key)).toEqual(['k/1']);
    await b.put('k/4', 'four'); // must land after the cut, not behind the torn bytes
    await b.close();
    await appendFile(wal, Buffer.from([0xff, 0, 0, 0, 1, 2, 3, 4, 5])); // garbage after good records
    const c = await openFileKvStore({ dir });
    expect((await c.list('k/')).map((e) => e.key)).toEqual(['k/1', 'k/4']);
    await c.put('k/5', 'five');
    await c.close();
    const bytes = await readFile(wal);
    bytes.writeUInt8((bytes.at(-3) as number) ^ 0x20, bytes.length - 3); // one flipped bit in the last record: its CRC no longer matches
    await writeFile(wal, bytes);
    const d = await openFileKvStore({ dir });
    expect((await d.list('k/')).map((e) => e.key)).toEqual(['k/1', 'k/4']);
    await d.close();
  });

  test('compaction folds the log into a snapshot and keeps every key, revision and lease', async () => {
    const dir = await tempDir();
    const a = await openFileKvStore({ dir, compactBytes: 4096 });
    const lease = await a.grantLease(60);
    await a.put('c/leased', 'x', { lease: lease.id });
    for (let i = 0; i < 300; i++) await a.put(`c/${String(i).padStart(3, '0')}`, `value-${i}`);
    await a.delete('c/000');
    const revision = await a.revision();
    const created = (await a.get('c/001'))?.createRevision;
    await a.close();
    expect((await stat(join(dir, 'snapshot.json'))).size).toBeGreaterThan(4096);
    expect((await stat(join(dir, 'wal.log'))).size).toBeLessThan((await stat(join(dir, 'snapshot.json'))).size);
    const b = await openFileKvStore({ dir });
    expect(await b.list('c/')).toHaveLength(300);
    expect(await b.revision()).toBe(revision);
    expect(await b.get('c/001')).toMatchObject({ createRevision: created, value: 'value-1' });
    expect((await b.get('c/leased'))?.lease).toBe(lease.id);
    await b.close();
  });

  test('a crash between writing the snapshot and emptying the log loses and revives nothing', async () => {
    const dir = await tempDir();
    const a = await openFileKvStore({ dir });
    await a.put('k', 'first');
    await a.put('k', 'second');
    await a.close();
    const oldLog = await readFile(join(dir, 'wal.log'));
    const b = await openFileKvStore({ dir, compactBytes: 1 });
    await b.put('k', 'third'); // compacts: snapshot at this revision, empty log
    const revision = await b.revision();
    await b.close();
    await writeFile(join(dir, 'wal.log'), oldLog); // as if the log was never emptied
    const c = await openFileKvStore({ dir });
    expect(await c.get('k')).toMatchObject({ value: 'third', modRevision: revision });
    expect(await c.revision()).toBe(revision);
    await c.close();
  });

  test('a damaged snapshot is reported, not silently dropped', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'snapshot.json'), '{"revision": 5, "entr');
    await expect(openFileKvStore({ dir })).rejects.toMatchObject({ code: 'TSNET_KV_CORRUPT', message: expect.stringContaining(join(dir, 'snapshot.json')) });
    // The failed open released its lock.
    await writeFile(join(dir, 'snapshot.json'), '{"revision": 5, "entries": []}');
    const store = await openFileKvStore({ dir });
    expect(await store.revision()).toBe(5);
    await store.close();
  });

  test('watches resume across a reopen from the history still in the log', async () => {
    const dir = await tempDir();
    const a = await openFileKvStore({ dir });
    const r1 = await a.put('h/1', 'a');
    const r2 = await a.put('h/2', 'b');
    await a.close();
    const b = await openFileKvStore({ dir });
    const seen: number[] = [];
    const watch = await b.watch('h/', { onEvents: (_events, revision) => seen.push(revision) }, { fromRevision: r1 });
    expect(seen).toEqual([r2]);
    await watch.cancel();
    await b.close();
  });

  test('the retained history is about the last 1,000 events: enough to resume a list\'s watch, bounded on a busy host', async () => {
    const dir = await tempDir();
    const store = await openFileKvStore({ dir });
    const revisions: number[] = [];
    for (let i = 0; i < 1500; i++) revisions.push(await store.put(`c/${i % 50}`, `v${i}`));
    const replayed: number[] = [];
    const recent = await store.watch('c/', { onEvents: (_e, revision) => replayed.push(revision) }, { fromRevision: revisions[599] as number });
    expect(replayed).toEqual(revisions.slice(600));
    const reasons: string[] = [];
    await store.watch('c/', { onEvents: () => undefined, onResync: (reason) => reasons.push(reason) }, { fromRevision: revisions[399] as number });
    await new Promise((r) => setTimeout(r, 0));
    expect(reasons).toEqual([expect.stringMatching(/is older than the history this store keeps/)]);
    await recent.cancel();
    await store.close();
  });

  test('a watch from before the retained history gets onResync and no further events', async () => {
    const dir = await tempDir();
    const store = await openFileKvStore({ dir });
    const first = await store.txn([], Array.from({ length: 6000 }, (_, i) => ({ type: 'put' as const, key: `b/${i}`, value: '' })));
    const second = await store.txn([], Array.from({ length: 6000 }, (_, i) => ({ type: 'put' as const, key: `b/${i}`, value: 'x' })));
    const replayed: number[] = [];
    const kept = await store.watch('b/', { onEvents: (_e, revision) => replayed.push(revision) }, { fromRevision: first.revision });
    expect(replayed).toEqual([second.revision]);
    const reasons: string[] = [];
    let events = 0;
    await store.watch('b/', { onEvents: () => events++, onResync: (reason) => reasons.push(reason) }, { fromRevision: first.revision - 1 });
    await store.put('b/new', 'y');
    expect(reasons).toHaveLength(1);
    expect(events).toBe(0);
    await kept.cancel();
    await store.close();
  });

  test('operations on a closed store fail with TSNET_KV_CLOSED; close is idempotent', async () => {
    const store = await openFileKvStore({ dir: await tempDir() });
    const pending = store.put('x', 'y');
    await Promise.all([store.close(), store.close()]);
    expect(await pending).toBeGreaterThan(1); // accepted before close, so it was flushed
    for (const op of [() => store.put('x', 'y'), () => store.get('x'), () => store.list(''), () => store.grantLease(5), () => store.watch('', { onEvents: () => undefined })]) {
      await expect(op()).rejects.toMatchObject({ code: 'TSNET_KV_CLOSED', kind: 'unavailable' });
    }
    await store.close();
  });
});
