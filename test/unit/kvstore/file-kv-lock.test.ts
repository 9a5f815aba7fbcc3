import { spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { openFileKvStore } from '../../../kvstore/local/index.js';
import { tempDir } from './temp-dir.js';

/** The PID of a process that has exited (so the PID is, for now, not in use). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid as number;
}

describe('FileKvStore directory lock', () => {
  test('a second open in this process is refused, naming the directory and the PID', async () => {
    const dir = await tempDir();
    const a = await openFileKvStore({ dir });
    const err = await openFileKvStore({ dir }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TSNET_KV_LOCKED', kind: 'conflict' });
    expect((err as Error).message).toContain(dir);
    expect((err as Error).message).toContain(`process ${process.pid}`);
    await a.close();
    const b = await openFileKvStore({ dir });
    await b.close();
  });

  test('a lock held by another live process names that process', async () => {
    const dir = await tempDir();
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    try {
      await writeFile(join(dir, 'LOCK'), `${child.pid}\n`);
      await expect(openFileKvStore({ dir })).rejects.toMatchObject({ code: 'TSNET_KV_LOCKED', message: `state directory ${dir} is in use by process ${child.pid}` });
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('close removes the lock file', async () => {
    const dir = await tempDir();
    const store = await openFileKvStore({ dir });
    expect((await readFile(join(dir, 'LOCK'), 'utf8')).split(' ')[0]?.trim()).toBe(String(process.pid));
    await store.close();
    await expect(stat(join(dir, 'LOCK'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('a stale lock from a dead process is taken over', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'LOCK'), `${await deadPid()}\n`);
    const store = await openFileKvStore({ dir });
    await store.put('x', 'y');
    expect((await readFile(join(dir, 'LOCK'), 'utf8')).startsWith(`${process.pid}`)).toBe(true);
    await store.close();
  });

  test('a lock with our own PID that this process does not hold is stale (PID reused after a reboot)', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'LOCK'), `${process.pid}\n`);
    const store = await openFileKvStore({ dir });
    await store.close();
  });

  test('a lock from another boot, or from an older process with a reused PID, is stale', async () => {
    const dir = await tempDir();
    const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
    if (bootId) {
      await writeFile(join(dir, 'LOCK'), `1 00000000-0000-0000-0000-000000000000 1\n`); // PID 1 lives, but in this boot
      await (await openFileKvStore({ dir })).close();
      await writeFile(join(dir, 'LOCK'), `1 ${bootId} 999999999999\n`); // PID 1 lives, but started at another time
      await (await openFileKvStore({ dir })).close();
    }
    await writeFile(join(dir, 'LOCK'), '1\n'); // without that information, a live PID holds the lock
    await expect(openFileKvStore({ dir })).rejects.toThrow(/is in use by process 1$/);
  });

  test('racing opens over a stale lock: exactly one wins', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'LOCK'), `${await deadPid()}\n`);
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => openFileKvStore({ dir })));
    const winners = results.filter((r) => r.status === 'fulfilled');
    expect(winners).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'TSNET_KV_LOCKED' });
    await (winners[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof openFileKvStore>>>).value.close();
  });
});
