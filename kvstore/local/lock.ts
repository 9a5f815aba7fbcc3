import { randomBytes } from 'node:crypto';
import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorText, TsnetError } from '../../src/core/errors.js';

const LOCK_FILE = 'LOCK';
const ATTEMPTS = 5;

/**
 * Lock files held by this process. A lock is process-wide by nature (like flock(2)), so this is
 * the one module-level registry: it tells "open twice in this process" apart from "a lock left
 * by an earlier process that happened to have our PID" (common after a reboot).
 */
const heldHere = new Set<string>();

/** The holder recorded in a lock file: `PID [boot-id start-time]`. */
interface Holder {
  readonly pid: number;
  readonly bootId?: string;
  readonly startTime?: string;
}

/** Options of {@link acquireDirLock}. */
export interface DirLockOptions {
  /**
   * This boot's id, recorded in the lock and compared with the holder's. Read from
   * /proc/sys/kernel/random/boot_id when absent (the daemon never sets it); tests pass one so
   * the "written before a reboot" rule is exercised whatever /proc offers.
   */
  readonly bootId?: string;
}

export interface DirLock {
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): Promise<void>;
}

/**
 * Takes the single-owner lock on a store directory. Node has no flock(2), so the lock is a file
 * that appears atomically (written under a temp name, then link(2)ed: fails if it exists) and
 * names its holder. A lock whose holder is gone (no such PID, another boot, or a PID reused by a
 * younger process) is stale and taken over. Fails with TSNET_KV_LOCKED naming the holder's PID.
 */
export async function acquireDirLock(dir: string, options: DirLockOptions = {}): Promise<DirLock> {
  const path = join(dir, LOCK_FILE);
  const bootId = options.bootId ?? (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
  if (/\s/.test(bootId)) throw new TypeError(`boot id ${JSON.stringify(bootId)} contains whitespace, which the lock file format cannot hold`);
  const mine = await describeSelf(bootId);
  const self = parseHolder(mine);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (await createExclusive(path, mine)) {
      heldHere.add(path);
      return { release: () => releaseLock(path, mine) };
    }
    if (heldHere.has(path)) throw locked(dir, process.pid, 'it is already open in this process');
    const raw = await readFile(path, 'utf8').catch(() => undefined);
    if (raw === undefined) continue; // released meanwhile: try again
    const holder = parseHolder(raw);
    if (holder && (await isAlive(holder, self))) throw locked(dir, holder.pid);
    await breakStaleLock(path, raw, mine);
  }
  throw locked(dir, undefined, 'its lock file keeps changing hands');
}

/** Creates `path` with `content` only if it does not exist, atomically (never seen half-written). */
async function createExclusive(path: string, content: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, content, { mode: 0o600 });
    await link(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new TsnetError('TSNET_KV_IO', `could not create the store lock ${path}: ${errorText(err)}`, 'check that the state directory is writable', { cause: err });
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/**
 * Removes a stale lock, unless someone else replaced it meanwhile. Two processes may find the
 * same stale lock at once; a second lock file serialises them, so one never deletes the fresh
 * lock the other just took.
 */
async function breakStaleLock(path: string, staleContent: string, mine: string): Promise<void> {
  const breaker = `${path}.break`;
  if (!(await createExclusive(breaker, mine))) {
    const other = parseHolder(await readFile(breaker, 'utf8').catch(() => ''));
    if (!other || !(await isAlive(other, parseHolder(mine)))) await unlink(breaker).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 20));
    return;
  }
  try {
    if ((await readFile(path, 'utf8').catch(() => undefined)) === staleContent) await unlink(path).catch(() => undefined);
  } finally {
    await unlink(breaker).catch(() => undefined);
  }
}

async function releaseLock(path: string, mine: string): Promise<void> {
  if (!heldHere.delete(path)) return;
  if ((await readFile(path, 'utf8').catch(() => undefined)) === mine) await unlink(path).catch(() => undefined);
}

/** Whether the process named by a lock file still holds it; `self` is this process's own description. */
async function isAlive(holder: Holder, self: Holder | undefined): Promise<boolean> {
  if (holder.bootId && self?.bootId && holder.bootId !== self.bootId) return false; // written before a reboot
  if (holder.pid === process.pid) return false; // not in heldHere: an earlier process with our PID
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false; // ESRCH: no such process
  }
  // A killed owner stays a zombie until its parent reaps it (some init processes are slow to).
  if ((await processState(holder.pid)) === 'Z') return false;
  if (!holder.startTime) return true;
  const startTime = await processStartTime(holder.pid);
  return startTime === undefined || startTime === holder.startTime;
}

/** Field 3 of /proc/PID/stat: R, S, D, Z (zombie)… */
async function processState(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
}

function parseHolder(raw: string): Holder | undefined {
  const [pid, bootId, startTime] = raw.trim().split(/\s+/);
  const n = Number(pid);
  if (!Number.isInteger(n) || n <= 0) return undefined;
  return { pid: n, ...(bootId ? { bootId } : {}), ...(startTime ? { startTime } : {}) };
}

/** `PID boot-id start-time` on Linux, just `PID` where /proc is missing. */
async function describeSelf(bootId: string): Promise<string> {
  const startTime = await processStartTime(process.pid);
  return bootId && startTime ? `${process.pid} ${bootId} ${startTime}\n` : `${process.pid}\n`;
}

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot); the name in field 2 may hold spaces. */
async function processStartTime(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function locked(dir: string, pid: number | undefined, why?: string): TsnetError {
  const holder = pid === undefined ? '' : ` by process ${pid}`;
  return new TsnetError('TSNET_KV_LOCKED', `state directory ${dir} is in use${holder}${why ? ` (${why})` : ''}`,
    `stop the other tsnet daemon or pass a different --state-dir; if the holder is not a tsnet daemon, delete ${join(dir, LOCK_FILE)}`);
}
