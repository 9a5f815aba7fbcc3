import { stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { openLogFile, type LogFile } from '../../../kvstore/local/commit-log.js';
import { openFileKvStore } from '../../../kvstore/local/index.js';
import { CnmRepository } from '../../../src/cnm/repository.js';
import type { EndpointRecord, NetworkRecord } from '../../../src/core/model.js';
import { tempDir } from './temp-dir.js';

const CRASH_ONLY = { survives: 'daemon-crash' } as const;

/**
 * A real log file that remembers how long it was at its last fdatasync, so a test can play a
 * power loss: everything written after that point is lost (or half of it, a torn record).
 */
function powerLossDisk(dir: string) {
  const path = join(dir, 'wal.log');
  const disk = {
    syncs: 0,
    syncedBytes: 0,
    openLog: async (logPath: string): Promise<LogFile> => {
      const real = await openLogFile(logPath);
      disk.syncedBytes = (await stat(logPath)).size;
      return {
        append: (data) => real.append(data),
        sync: async () => {
          await real.sync();
          disk.syncs++;
          disk.syncedBytes = (await stat(logPath)).size;
        },
        truncate: async (length) => {
          await real.truncate(length);
          disk.syncedBytes = Math.min(disk.syncedBytes, length);
        },
        close: () => real.close(),
      };
    },
    /** What a power loss leaves: the synced prefix, plus `tornBytes` of what followed it. */
    async losePower(tornBytes = 0): Promise<void> {
      const size = (await stat(path)).size;
      await truncate(path, Math.min(size, disk.syncedBytes + tornBytes));
    },
  };
  return disk;
}

async function keysAndValues(store: { list(prefix: string): Promise<Array<{ key: string; value: string }>> }): Promise<string[][]> {
  return (await store.list('k/')).map((e) => [e.key, e.value]);
}

describe('FileKvStore durability levels', () => {
  test('daemon-crash writes are acknowledged without an fdatasync, and a later power-loss write syncs them with it', async () => {
    const dir = await tempDir();
    const disk = powerLossDisk(dir);
    const store = await openFileKvStore({ dir, openLog: disk.openLog });
    await store.put('k/a', '1', CRASH_ONLY);
    await store.txn([{ key: 'k/a', kind: 'value', value: '1' }], [{ type: 'put', key: 'k/b', value: '2' }], [], CRASH_ONLY);
    expect(await store.delete('k/a', CRASH_ONLY)).toBe(true);
    expect(disk.syncs).toBe(0);
    expect(store.syncCount).toBe(0);
    expect(await keysAndValues(store)).toEqual([['k/b', '2']]);

    await store.put('k/c', '3');
    expect(disk.syncs).toBe(1);
    await store.close();
    await disk.losePower();
    const reopened = await openFileKvStore({ dir });
    expect(await keysAndValues(reopened)).toEqual([['k/b', '2'], ['k/c', '3']]);
    await reopened.close();
  });

  test('a kill of the daemon keeps every acknowledged daemon-crash write (it is in the file)', async () => {
    const dir = await tempDir();
    const store = await openFileKvStore({ dir });
    await store.put('k/a', '1');
    await store.put('k/b', '2', CRASH_ONLY);
    await store.put('k/a', '9', CRASH_ONLY);
    await store.close(); // closing neither syncs nor writes more: the file holds what a kill leaves
    const reopened = await openFileKvStore({ dir });
    expect(await keysAndValues(reopened)).toEqual([['k/a', '9'], ['k/b', '2']]);
    await reopened.close();
  });

  test('after a power loss the store reopens at a prefix of its history: synced writes all there, a torn one cut off', async () => {
    const dir = await tempDir();
    const disk = powerLossDisk(dir);
    const store = await openFileKvStore({ dir, openLog: disk.openLog });
    const synced = await store.put('k/a', '1');
    await store.put('k/b', '2', CRASH_ONLY);
    await store.put('k/a', '3', CRASH_ONLY);
    await store.close();
    await disk.losePower(7); // the first unsynced record is half on disk
    const reopened = await openFileKvStore({ dir });
    expect(await keysAndValues(reopened)).toEqual([['k/a', '1']]);
    expect(await reopened.revision()).toBe(synced);
    // The cut tail leaves a log that takes new writes and reopens with them.
    await reopened.put('k/c', '4');
    await reopened.close();
    const again = await openFileKvStore({ dir });
    expect(await keysAndValues(again)).toEqual([['k/a', '1'], ['k/c', '4']]);
    await again.close();
  });

  test('writes of both levels submitted together share one fdatasync and all resolve', async () => {
    const dir = await tempDir();
    const disk = powerLossDisk(dir);
    const store = await openFileKvStore({ dir, openLog: disk.openLog });
    await store.put('k/warm', '0', CRASH_ONLY);
    const writes = [
      store.put('k/1', '1', CRASH_ONLY),
      store.put('k/2', '2'),
      store.put('k/3', '3', CRASH_ONLY),
      store.put('k/4', '4'),
    ];
    const revisions = await Promise.all(writes);
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    expect(disk.syncs).toBeGreaterThanOrEqual(1);
    expect(disk.syncs).toBeLessThanOrEqual(2);
    await store.close();
    await disk.losePower();
    const reopened = await openFileKvStore({ dir });
    // k/4 was synced, so everything before it in the log is on disk too.
    expect((await keysAndValues(reopened)).map(([key]) => key)).toEqual(['k/1', 'k/2', 'k/3', 'k/4', 'k/warm']);
    await reopened.close();
  });
});

describe('CnmRepository durability', () => {
  const network: NetworkRecord = {
    id: 'n'.repeat(64), type: 'bridge', ipv4: [], ipv6: [], internal: false, enableIpv6: false, options: {}, state: 'ready', createdAt: '2026-12-02T00:00:00.000Z', driverState: {},
  };
  const endpoint: EndpointRecord = {
    networkId: network.id, id: 'e'.repeat(64), address: '10.0.0.2/24', mac: '02:42:0a:00:00:02', macGenerated: true, state: 'ready', exposedPorts: [], ports: [], createdAt: '2026-12-02T00:00:00.000Z',
  };

  test('endpoint records skip the fdatasync (kernel lifetime); network records wait for it', async () => {
    const dir = await tempDir();
    const store = await openFileKvStore({ dir });
    const repo = new CnmRepository(store);
    await repo.saveNetwork(network, 'CreateNetwork');
    expect(store.syncCount).toBe(1);
    const token = await repo.saveEndpoint(endpoint, 'CreateEndpoint');
    await repo.saveEndpoint({ ...endpoint, sandboxKey: '/var/run/docker/netns/x' });
    repo.answered({ networkId: network.id, endpointId: endpoint.id }, token as number);
    await repo.flush();
    await repo.deleteEndpoint(network.id, endpoint.id);
    expect(store.syncCount).toBe(1);
    await repo.deleteNetwork(network.id);
    expect(store.syncCount).toBe(2);
    await store.close();
  });

  test('a batch of answered markers waits for the disk when it holds a network\'s marker', async () => {
    const dir = await tempDir();
    const store = await openFileKvStore({ dir });
    const repo = new CnmRepository(store);
    const netToken = await repo.saveNetwork(network, 'CreateNetwork');
    const epToken = await repo.saveEndpoint(endpoint, 'CreateEndpoint');
    const synced = store.syncCount;
    repo.answered({ networkId: network.id, endpointId: endpoint.id }, epToken as number);
    await repo.flush();
    expect(store.syncCount).toBe(synced);
    repo.answered({ networkId: network.id }, netToken as number);
    await repo.flush();
    expect(store.syncCount).toBe(synced + 1);
    expect(repo.allUnanswered()).toEqual([]);
    await store.close();
  });
});
