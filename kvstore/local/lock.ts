import { open, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TsnetError } from '../../src/core/errors.js';

const LOCK_FILE = 'LOCK';

/**
 * One owner per store directory. Node has no flock(2), so the lock is a file created with
 * O_EXCL holding the owner's PID; a lock whose PID is no longer alive is stale and taken over.
 */
export async function acquireDirLock(dir: string): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return async () => { await unlink(path).catch(() => undefined); };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new TsnetError('TSNET_KV_IO', 'unavailable', `cannot create lock ${path}: ${(err as Error).message}`, 'check that the state directory is writable', { cause: err });
      }
    }
    const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
      throw new TsnetError('TSNET_KV_LOCKED', 'conflict', `state directory ${dir} is in use by process ${holder}`, 'stop the other tsnet daemon, or pass a different --state-dir');
    }
    if (holder === process.pid) {
      throw new TsnetError('TSNET_KV_LOCKED', 'conflict', `state directory ${dir} is already open in this process`, 'close the other store first');
    }
    // Stale: its owner died without cleaning up (kill -9). Remove it and try again.
    await writeFile(path, '').catch(() => undefined);
    await unlink(path).catch(() => undefined);
  }
  throw new TsnetError('TSNET_KV_LOCKED', 'conflict', `could not lock state directory ${dir}`, 'another process keeps recreating its lock');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
