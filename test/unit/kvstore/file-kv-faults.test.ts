import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { KvEvent } from '../../../kvstore/kvstore.js';
import { openLogFile, type LogFile } from '../../../kvstore/local/commit-log.js';
import { openFileKvStore } from '../../../kvstore/local/index.js';
import { tempDir } from './temp-dir.js';

function errno(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

/**
 * A real log file whose disk can be told to fail: a failing write first writes half of the
 * data (as a filling disk does), and sync can be held back to keep writes in flight.
 */
function faultyDisk() {
  const disk = {
    failWrites: undefined as NodeJS.ErrnoException | undefined,
    failSync: undefined as NodeJS.ErrnoException | undefined,
    syncGate: undefined as Promise<void> | undefined,
    /** fsyncs that have started; a write is known to be in flight once one waits at the gate. */
    syncsStarted: 0,
    openLog: async (path: string): Promise<LogFile> => {
      const real = await openLogFile(path);
      return {
        append: async (data) => {
          if (!disk.failWrites) return real.append(data);
          await real.append(data.subarray(0, data.length >> 1));
          throw disk.failWrites;
        },
        sync: async () => {
          disk.syncsStarted++;
          await disk.syncGate;
          if (disk.failSync) throw disk.failSync;
          return real.sync();
        },
        truncate: (length) => real.truncate(length),
        close: () => real.close(),
      };
    },
  };
  return disk;
}

/** Polls until `check` holds (fails after 5 s); a condition to wait on, never a fixed sleep. */
async function waitUntil(check: () => boolean): Promise<void> {
  for (let i = 0; !check(); i++) {
    if (i > 1_000) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('FileKvStore when the disk fails', () => {
  test('a failed write is refused as unavailable naming the log, and leaves no trace in memory or on disk', async () => {
    const dir = await tempDir();
    const disk = faultyDisk();
    const store = await openFileKvStore({ dir, openLog: disk.openLog });
    const r1 = await store.put('k/a', '1');
    const events: KvEvent[] = [];
    await store.watch('k/', { onEvents: (e) => events.push(...e) });
    disk.failWrites = errno('ENOSPC', 'no space left on device');
    const failed = store.txn([], [{ type: 'put', key: 'k/a', value: '2' }, { type: 'put', key: 'k/b', value: '2' }]);
    const dependent = store.txn([{ key: 'k/b', kind: 'present' }], [{ type: 'delete', key: 'k/a' }]); // saw the failed one
    const err = await failed.catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TSNET_KV_IO', kind: 'unavailable' });
    expect((err as Error).message).toContain(join(dir, 'wal.log'));
    expect((err as Error).message).toContain('ENOSPC');
    await expect(dependent).rejects.toMatchObject({ code: 'TSNET_KV_IO' });
    expect(await store.list('k/')).toEqual([{ key: 'k/a', value: '1', createRevision: r1, modRevision: r1 }]);
    expect(await store.revision()).toBe(r1);
    expect(events).toEqual([]);

    disk.failWrites = undefined; // space freed: the store carries on
    expect(await store.put('k/c', '3')).toBe(r1 + 1);
    await store.close();
    const reopened = await openFileKvStore({ dir });
    expect((await reopened.list('k/')).map((e) => [e.key, e.value])).toEqual([['k/a', '1'], ['k/c', '3']]);
    await reopened.close();
  });

  test('reads wait for writes in flight and never see one that then fails', async () => {
    const dir = await tempDir();
    const disk = faultyDisk();
    const store = await openFileKvStore({ dir, openLog: disk.openLog });
    await store.put('k', 'durable');
    let openGate!: () => void;
    disk.syncGate = new Promise((resolve) => { openGate = resolve; });
    disk.failSync = errno('EIO', 'input/output error');
    const syncsBefore = disk.syncsStarted;
    const write = store.put('k', 'lost');
    const read = store.get('k');
    const listed = store.list('');
    let settled = false;
    void read.then(() => { settled = true; });
    await waitUntil(() => disk.syncsStarted > syncsBefore); // the write is at the gate, in flight
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false); // held back while the write is in flight
    openGate();
    await expect(write).rejects.toMatchObject({ code: 'TSNET_KV_IO' });
    expect((await read)?.value).toBe('durable');
    expect((await listed).map((e) => e.value)).toEqual(['durable']);
    await store.close();
  });

  test('a snapshot taken while a later write is queued leaves that write out, so its failure stays a failure', async () => {
    const dir = await tempDir();
    const disk = faultyDisk();
    const store = await openFileKvStore({ dir, openLog: disk.openLog, compactBytes: 1 }); // compact after every batch
    let openGate!: () => void;
    disk.syncGate = new Promise((resolve) => { openGate = resolve; });
    const syncsBefore = disk.syncsStarted;
    const first = store.put('k/first', '1');
    await waitUntil(() => disk.syncsStarted > syncsBefore); // written, waiting for its fsync
    const second = store.put('k/second', '2'); // queued behind it; in memory already
    disk.failWrites = errno('ENOSPC', 'no space left on device');
    disk.syncGate = undefined;
    openGate(); // first is durable, the snapshot is taken, then second's write fails
    await first;
    await expect(second).rejects.toMatchObject({ code: 'TSNET_KV_IO' });
    await store.close();
    const reopened = await openFileKvStore({ dir });
    expect((await reopened.list('k/')).map((e) => e.key)).toEqual(['k/first']);
    await reopened.close();
  });

  test('after a failed fsync the log is not trusted: writes are refused until the store is reopened', async () => {
    const dir = await tempDir();
    const disk = faultyDisk();
    const store = await openFileKvStore({ dir, openLog: disk.openLog });
    await store.put('k', '1');
    disk.failSync = errno('EIO', 'input/output error');
    await expect(store.put('k', '2')).rejects.toMatchObject({ code: 'TSNET_KV_IO' });
    disk.failSync = undefined;
    await expect(store.put('k', '3')).rejects.toMatchObject({ code: 'TSNET_KV_IO', hint: expect.stringContaining('restart tsnet') });
    expect((await store.get('k'))?.value).toBe('1');
    await store.close();
    const reopened = await openFileKvStore({ dir });
    expect((await reopened.get('k'))?.value).not.toBe('3');
    await reopened.put('k', '4');
    await reopened.close();
  });

  test('a lease whose grant or revoke fails to be logged is as if never granted, or still alive', async () => {
    const dir = await tempDir();
    const disk = faultyDisk();
    const store = await openFileKvStore({ dir, openLog: disk.openLog });
    const lease = await store.grantLease(60);
    await store.put('l/a', '1', { lease: lease.id });
    disk.failWrites = errno('ENOSPC', 'no space left on device');
    await expect(store.grantLease(60)).rejects.toMatchObject({ code: 'TSNET_KV_IO' });
    await expect(lease.revoke()).rejects.toMatchObject({ code: 'TSNET_KV_IO' });
    disk.failWrites = undefined;
    expect((await store.get('l/a'))?.lease).toBe(lease.id);
    await store.put('l/b', '2', { lease: lease.id }); // the lease still exists
    await lease.revoke();
    expect(await store.list('l/')).toEqual([]);
    await store.close();
  });
});
