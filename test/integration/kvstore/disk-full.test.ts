import { execFile } from 'node:child_process';
import { mkdtemp, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { KvStore } from '../../../kvstore/kvstore.js';
import { openFileKvStore } from '../../../kvstore/local/index.js';

const run = promisify(execFile);
let mountPoint: string | undefined;
let skipReason: string | undefined;
const opened: KvStore[] = [];

// A 256 KiB tmpfs fills up for real: write(2) comes back short, then fails with ENOSPC.
beforeAll(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tsnet-full-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tsnet-test', dir]);
    mountPoint = dir;
  } catch (err) {
    skipReason = `cannot mount a tmpfs here (needs root): ${(err as Error).message.split('\n')[0]}`;
    await rmdir(dir);
  }
});
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close().catch(() => undefined))); // a failed test leaves them open
  if (!mountPoint) return;
  await run('umount', [mountPoint]).catch(() => run('umount', ['-l', mountPoint as string]));
  await rm(mountPoint, { recursive: true, force: true });
});

test('a full disk refuses the write as unavailable, naming the log; the store recovers once space is freed', async (ctx) => {
  if (!mountPoint) {
    console.warn(`skipped: ${skipReason}`);
    return ctx.skip();
  }
  const dir = join(mountPoint, 'state');
  const store = await openFileKvStore({ dir, compactBytes: 64 * 1024 * 1024 });
  opened.push(store);
  const ballast = join(mountPoint, 'ballast');
  await writeFile(ballast, Buffer.alloc(64 * 1024));
  const value = 'v'.repeat(10_000);
  let last = 0;
  let failure: unknown;
  for (let i = 0; i < 100 && !failure; i++) {
    await store.put(`k/${String(i).padStart(3, '0')}`, value).then((r) => { last = i; return r; }, (err: unknown) => { failure = err; });
  }
  expect(failure).toMatchObject({ code: 'TSNET_KV_IO', kind: 'unavailable' });
  expect((failure as Error).message).toContain(join(dir, 'wal.log'));
  expect((failure as Error).message).toContain('ENOSPC');
  const keys = (await store.list('k/')).map((e) => e.key);
  expect(keys).toHaveLength(last + 1); // nothing of the failed put in memory
  const revision = await store.revision();

  await unlink(ballast); // space freed: the log was cut back to whole records, so writing resumes
  expect(await store.put('k/after', 'small')).toBe(revision + 1);
  await store.close();
  const reopened = await openFileKvStore({ dir });
  opened.push(reopened);
  expect((await reopened.list('k/')).map((e) => e.key)).toEqual([...keys, 'k/after']);
  await reopened.close();
});
