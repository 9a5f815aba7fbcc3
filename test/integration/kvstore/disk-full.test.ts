import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, onTestFinished, test } from 'vitest';
import type { KvStore } from '../../../kvstore/kvstore.js';
import { openFileKvStore } from '../../../kvstore/local/index.js';
import { run } from '../../support/exec.js';

/** CAP_SYS_ADMIN, the capability mount(2) needs (linux/capability.h). */
const CAP_SYS_ADMIN = 21n;

/**
 * Why this process cannot mount a tmpfs, or undefined when it can. Only a missing privilege is
 * a reason to skip; when the privilege is there, a failing mount is a failure of the test.
 */
async function whyNoMount(): Promise<string | undefined> {
  const uid = process.getuid?.();
  if (uid !== 0) return `not running as root (uid ${String(uid)}), and mounting a tmpfs needs root`;
  const status = await readFile('/proc/self/status', 'utf8');
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (capEff === undefined) throw new Error('no CapEff line in /proc/self/status: cannot tell whether mounting is allowed');
  if ((BigInt(`0x${capEff}`) & (1n << CAP_SYS_ADMIN)) === 0n) return `running as root without CAP_SYS_ADMIN (CapEff ${capEff}), which mount(2) needs`;
  return undefined;
}

// A 256 KiB tmpfs fills up for real: write(2) comes back short, then fails with ENOSPC.
test('a full disk refuses the write as unavailable, naming the log; the store recovers once space is freed', async () => {
  const mountPoint = await mkdtemp(join(tmpdir(), 'tsnet-full-'));
  const opened: KvStore[] = [];
  let mounted = false;
  // Registered before the mount: stores closed, tmpfs unmounted, directory removed, even on failure.
  onTestFinished(async () => {
    await Promise.all(opened.map((s) => s.close().catch(() => undefined)));
    if (mounted) {
      const umount = await run(['umount', mountPoint], { allowFail: true });
      if (umount.code !== 0) await run(['umount', '-l', mountPoint]);
    }
    await rm(mountPoint, { recursive: true, force: true });
  });
  const why = await whyNoMount();
  const mount = await run(['mount', '-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tsnet-test', mountPoint], { allowFail: true });
  mounted = mount.code === 0;
  if (why !== undefined) {
    console.log(`SKIP: disk-full test not run: ${why} (mount said: ${mount.stderr.trim().replace(/\s+/g, ' ')})`);
    // The reason given must be true: had the mount worked, this test should have run.
    expect(mounted, 'mount succeeded although the environment was judged unable to mount').toBe(false);
  } else {
    expect(mount, 'mounting the test tmpfs failed although this process has the privilege').toMatchObject({ code: 0 });
    await fillAndRecover(mountPoint, opened);
  }
});

/** Fills the tmpfs through the store, then frees space and checks the store carries on. */
async function fillAndRecover(mountPoint: string, opened: KvStore[]): Promise<void> {
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
}
