import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { openFileKvStore } from '../../../kvstore/local/index.js';
import { encodeRecord } from '../../../kvstore/local/wal.js';
import { tempDir } from './temp-dir.js';

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('FileKvStore leases', () => {
  test('TTLs must be whole seconds', async () => {
    const store = await openFileKvStore({ dir: await tempDir() });
    for (const ttl of [0, -1, 1.5, Number.NaN]) await expect(store.grantLease(ttl)).rejects.toMatchObject({ code: 'TSNET_KV_LEASE', kind: 'invalid' });
    await store.close();
  });

  test('onLost fires when a released lease expires, never for the holder\'s own revoke', async () => {
    const store = await openFileKvStore({ dir: await tempDir() });
    const released = await store.grantLease(1);
    const revoked = await store.grantLease(1);
    const lost: string[] = [];
    released.onLost((reason) => lost.push(`released: ${reason}`));
    revoked.onLost((reason) => lost.push(`revoked: ${reason}`));
    await released.release();
    await revoked.revoke();
    await waitUntil(() => lost.length === 1);
    expect(lost[0]).toMatch(/^released: lease \w+ expired 1 s after it was released$/);
    released.onLost((reason) => lost.push(`late: ${reason}`)); // already gone: told at once
    await waitUntil(() => lost.length === 2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(lost).toHaveLength(2);
    await store.close();
  });

  test('after a restart, keys of the previous run\'s leases live one TTL more, then go in a transaction watchers see', async () => {
    const dir = await tempDir();
    const a = await openFileKvStore({ dir });
    const lease = await a.grantLease(1);
    await a.put('l/held', 'x', { lease: lease.id });
    await a.put('l/plain', 'y');
    await a.close();
    const b = await openFileKvStore({ dir });
    const deleted: string[] = [];
    await b.watch('l/', { onEvents: (events) => events.forEach((e) => e.type === 'delete' && deleted.push(e.key)) });
    expect((await b.get('l/held'))?.lease).toBe(lease.id);
    await waitUntil(() => deleted.length === 1, 3_000);
    expect(deleted).toEqual(['l/held']);
    expect((await b.list('l/')).map((e) => e.key)).toEqual(['l/plain']);
    await expect(b.put('l/again', 'z', { lease: lease.id })).rejects.toMatchObject({ code: 'TSNET_KV_LEASE_GONE', kind: 'not-found' });
    await b.close();
    const c = await openFileKvStore({ dir }); // the expiry itself was logged
    expect((await c.list('l/')).map((e) => e.key)).toEqual(['l/plain']);
    await c.close();
  });

  test('a revoked lease stays revoked after a restart', async () => {
    const dir = await tempDir();
    const a = await openFileKvStore({ dir });
    const lease = await a.grantLease(60);
    await a.put('l/a', 'x', { lease: lease.id });
    await lease.revoke();
    await a.close();
    const b = await openFileKvStore({ dir });
    expect(await b.list('l/')).toEqual([]);
    await expect(b.put('l/a', 'x', { lease: lease.id })).rejects.toMatchObject({ code: 'TSNET_KV_LEASE_GONE' });
    await b.close();
  });

  test('keys on a lease the log never granted (an older log format) are deleted right after open', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'wal.log'), Buffer.concat([
      encodeRecord({ r: 2, w: [{ p: { k: 'old/leased', v: '1', c: 2, l: 'cafe' } }] }),
      encodeRecord({ r: 3, w: [{ p: { k: 'old/plain', v: '2', c: 3 } }] }),
    ]));
    const store = await openFileKvStore({ dir });
    await waitUntil(async () => (await store.get('old/leased')) === undefined);
    expect((await store.list('old/')).map((e) => e.key)).toEqual(['old/plain']);
    expect(await store.revision()).toBe(4);
    await store.close();
  });
});
