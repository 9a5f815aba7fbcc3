import { appendFile, mkdtemp, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { kvStoreContract } from '../../../kvstore/conformance.js';
import { openFileKvStore } from '../../../kvstore/local/index.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tsnet-kv-'));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

kvStoreContract('FileKvStore', async () => {
  const dir = await tempDir();
  const store = await openFileKvStore({ dir });
  return { store, cleanup: async () => { await store.close(); } };
});

describe('FileKvStore on disk', () => {
  test('reopening keeps data and revisions', async () => {
    const dir = await tempDir();
    const a = await openFileKvStore({ dir });
    await a.put('k/1', 'v1');
    const rev = await a.txn([], [{ type: 'put', key: 'k/2', value: 'v2' }, { type: 'delete', key: 'k/1' }]);
    await a.close();
    const b = await openFileKvStore({ dir });
    expect(await b.revision()).toBe(rev.revision);
    expect((await b.list('k/')).map((e) => [e.key, e.value, e.modRevision])).toEqual([['k/2', 'v2', rev.revision]]);
    await b.close();
  });

  test('a torn or corrupt log tail is cut off at the last whole transaction', async () => {
    const dir = await tempDir();
    const a = await openFileKvStore({ dir });
    await a.put('k/1', 'one');
    await a.txn([], [{ type: 'put', key: 'k/2', value: 'two' }, { type: 'put', key: 'k/3', value: 'three' }]);
    await a.close();
    const wal = join(dir, 'wal.log');
    const size = (await stat(wal)).size;
    await truncate(wal, size - 5); // the second transaction is torn
    const b = await openFileKvStore({ dir });
    expect((await b.list('k/')).map((e) => e.key)).toEqual(['k/1']);
    await b.put('k/4', 'four');
    await b.close();
    await appendFile(wal, Buffer.from([0xff, 0, 0, 0, 1, 2, 3, 4, 5])); // garbage after good records
    const c = await openFileKvStore({ dir });
    expect((await c.list('k/')).map((e) => e.key)).toEqual(['k/1', 'k/4']);
    await c.close();
  });

  test('a second open of the same directory is refused, naming the holder', async () => {
    const dir = await tempDir();
    const a = await openFileKvStore({ dir });
    await expect(openFileKvStore({ dir })).rejects.toMatchObject({ code: 'TSNET_KV_LOCKED' });
    await a.close();
    const b = await openFileKvStore({ dir });
    await b.close();
  });

  test('a stale lock from a dead process is taken over', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'LOCK'), '999999\n');
    const a = await openFileKvStore({ dir });
    await a.put('x', 'y');
    await a.close();
  });

  test('a lock held by a live process names it', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'LOCK'), '1\n'); // PID 1 is always alive
    await expect(openFileKvStore({ dir })).rejects.toThrow(/is in use by process 1/);
  });

  test('keys attached to leases of a previous process are gone after reopen', async () => {
    const dir = await tempDir();
    const a = await openFileKvStore({ dir });
    const lease = await a.grantLease(60);
    await a.put('l/1', 'x', { lease: lease.id });
    await a.put('l/2', 'y');
    await a.close();
    const b = await openFileKvStore({ dir });
    expect((await b.list('l/')).map((e) => e.key)).toEqual(['l/2']);
    await b.close();
  });

  test('compaction folds the log into a snapshot and keeps every key', async () => {
    const dir = await tempDir();
    const a = await openFileKvStore({ dir, compactBytes: 4096 });
    for (let i = 0; i < 300; i++) await a.put(`c/${String(i).padStart(3, '0')}`, `value-${i}`);
    await a.delete('c/000');
    const revision = await a.revision();
    await a.close();
    expect((await stat(join(dir, 'snapshot.json'))).size).toBeGreaterThan(0);
    expect((await stat(join(dir, 'wal.log'))).size).toBeLessThan(4096 + 200);
    const b = await openFileKvStore({ dir });
    expect(await b.list('c/')).toHaveLength(299);
    expect(await b.revision()).toBe(revision);
    await b.close();
  });

  test('operations on a closed store fail clearly', async () => {
    const dir = await tempDir();
    const a = await openFileKvStore({ dir });
    await a.close();
    await expect(a.put('x', 'y')).rejects.toMatchObject({ code: 'TSNET_KV_CLOSED' });
    await a.close();
  });
});
