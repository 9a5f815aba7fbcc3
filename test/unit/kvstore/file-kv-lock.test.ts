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

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), as the lock records it. */
async function startTimeOf(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const field = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  if (!field || !/^\d+$/.test(field)) throw new Error(`no start time in /proc/${pid}/stat`);
  return field;
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
    const store = await openFileKvStore({ dir, bootId: 'aaaaaaaa-0000-4000-8000-000000000001' });
    // Taken over: the lock now carries this process's full description, not the bare PID.
    expect(await readFile(join(dir, 'LOCK'), 'utf8')).toBe(`${process.pid} aaaaaaaa-0000-4000-8000-000000000001 ${await startTimeOf(process.pid)}\n`);
    await store.close();
  });

  // The boot id is injected, so these rules run whatever /proc offers. PID 1 is alive and its
  // real start time is used, so each case differs from a valid lock in exactly one field.
  test('a live PID from another boot is stale; from this boot and with its start time, it holds the lock', async () => {
    const dir = await tempDir();
    const pid1Start = await startTimeOf(1);
    const thisBoot = 'aaaaaaaa-0000-4000-8000-000000000001';
    const otherBoot = 'bbbbbbbb-0000-4000-8000-000000000002';
    await writeFile(join(dir, 'LOCK'), `1 ${thisBoot} ${pid1Start}\n`);
    await expect(openFileKvStore({ dir, bootId: thisBoot })).rejects.toThrow(/is in use by process 1$/);
    await writeFile(join(dir, 'LOCK'), `1 ${otherBoot} ${pid1Start}\n`); // written before a reboot
    const store = await openFileKvStore({ dir, bootId: thisBoot });
    expect(await readFile(join(dir, 'LOCK'), 'utf8')).toBe(`${process.pid} ${thisBoot} ${await startTimeOf(process.pid)}\n`);
    await store.close();
  });

  test('a live PID of this boot with another start time is stale (the PID was reused)', async () => {
    const dir = await tempDir();
    const thisBoot = 'aaaaaaaa-0000-4000-8000-000000000001';
    await writeFile(join(dir, 'LOCK'), `1 ${thisBoot} ${BigInt(await startTimeOf(1)) + 1n}\n`);
    await (await openFileKvStore({ dir, bootId: thisBoot })).close();
    await writeFile(join(dir, 'LOCK'), '1\n'); // without that information, a live PID holds the lock
    await expect(openFileKvStore({ dir, bootId: thisBoot })).rejects.toThrow(/is in use by process 1$/);
  });

  test('without an injected boot id, the kernel\'s own is recorded', async () => {
    const dir = await tempDir();
    const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
    expect(bootId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const store = await openFileKvStore({ dir });
    expect(await readFile(join(dir, 'LOCK'), 'utf8')).toBe(`${process.pid} ${bootId} ${await startTimeOf(process.pid)}\n`);
    await store.close();
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
