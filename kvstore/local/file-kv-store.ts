import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { errorText, TsnetError } from '../../src/core/errors.js';
import type { KvCompare, KvEntry, KvLease, KvStore, KvTxnResult, KvWatch, KvWatchHandlers, KvWrite, KvWriteOptions, LeaseId } from '../kvstore.js';
import { CommitLog, openLogFile, type LogFile } from './commit-log.js';
import type { AppliedChange, Change, StoreImage } from './image.js';
import { createLeaseHandle } from './lease-handle.js';
import { acquireDirLock, type DirLock } from './lock.js';
import { WAL_FILE, recover, writeSnapshot, type Recovered } from './recovery.js';
import { checkKey, checkPrefix, checkTtl, expandWrites, validateWrites } from './validate.js';
import { WatchHub } from './watch-hub.js';

/** Default log size that triggers a snapshot. */
const COMPACT_BYTES = 8 * 1024 * 1024;

/** Options of openFileKvStore; the daemon passes `dir` (--state-dir) and its logger. */
export interface FileKvStoreOptions {
  /** State directory; created if missing. Holds LOCK, wal.log and snapshot.json. */
  readonly dir: string;
  readonly log?: Logger;
  /** Log size that triggers a snapshot (default 8 MiB; never less than the last snapshot's size). */
  readonly compactBytes?: number;
  /** Opens the log file. Tests inject failing disks here; the daemon never sets it. */
  readonly openLog?: (path: string) => Promise<LogFile>;
  /** This boot's id for the directory lock (see DirLockOptions); the daemon never sets it. */
  readonly bootId?: string;
}

/**
 * Opens the embedded local store; called once at daemon start-up (and by tests). Takes the
 * directory's single-owner lock (TSNET_KV_LOCKED if another process or store holds it), loads
 * the snapshot, replays the log and cuts off a torn tail left by a crash.
 */
export async function openFileKvStore(options: FileKvStoreOptions): Promise<FileKvStore> {
  await ioStep(`create the state directory ${options.dir}`, () => mkdir(options.dir, { recursive: true, mode: 0o700 }));
  const lock = await acquireDirLock(options.dir, { bootId: options.bootId });
  let file: LogFile | undefined;
  try {
    const recovered = await recover(options.dir);
    const walPath = join(options.dir, WAL_FILE);
    file = await ioStep(`open ${walPath}`, () => (options.openLog ?? openLogFile)(walPath));
    if (recovered.tornBytes > 0) {
      options.log?.warn({ path: walPath, dropped: recovered.tornBytes }, 'cutting off the torn tail of the store log (a write interrupted by a crash)');
      const opened = file;
      await ioStep(`truncate ${walPath}`, async () => { await opened.truncate(recovered.logBytes); await opened.sync(); });
    }
    return new FileKvStore(options, lock, recovered, file);
  } catch (err) {
    await file?.close().catch(() => undefined);
    await lock.release();
    throw err;
  }
}

/**
 * The embedded local KvStore: an in-memory image made durable by a CRC-checked write-ahead log
 * (fsync'd before a write is acknowledged, with group commit) and snapshots. A `kill -9` at any
 * point leaves every transaction wholly present or wholly absent on reopen. A write asked to
 * survive only a daemon crash (`KvDurability`) is acknowledged once written to the log; after a
 * power loss the log is still a prefix of the history, cut at the first torn record.
 *
 * Transactions are applied to memory synchronously, so each sees every earlier one, then wait
 * for the log. Reads (get, list, revision, and txns that write nothing) never return state that
 * is not yet durable: when writes are in flight they wait for them, as etcd's linearizable
 * reads do, so nothing a caller has seen can vanish in a crash.
 *
 * Leases: see `createLeaseHandle` for a held lease. Leases are logged; after a restart, every
 * lease of the previous run (whose holder is necessarily gone) expires its TTL after the open,
 * which is what etcd does with leases across a leader restart, and its keys are then deleted.
 */
export class FileKvStore implements KvStore {
  readonly description: string;
  private readonly image: StoreImage;
  private readonly hub: WatchHub;
  private readonly commits: CommitLog;
  private readonly compactBytes: number;
  private nextCompaction: number;
  /** Bumped whenever changes are rolled back, so a waiting read knows to look again. */
  private epoch = 0;
  private closed = false;
  private closing?: Promise<void>;

  /** Use openFileKvStore; this assumes the lock is held and `recovered` is what is on disk. */
  constructor(private readonly options: FileKvStoreOptions, private readonly lock: DirLock, recovered: Recovered, file: LogFile) {
    this.description = `file store ${options.dir}`;
    this.image = recovered.image;
    this.hub = new WatchHub(recovered.historyFrom, (err) => options.log?.warn({ err }, 'a store watch consumer threw; ignored'));
    this.hub.seed(recovered.history);
    this.compactBytes = options.compactBytes ?? COMPACT_BYTES;
    this.nextCompaction = Math.max(this.compactBytes, recovered.snapshotBytes);
    this.commits = new CommitLog(file, join(options.dir, WAL_FILE), { bytes: recovered.logBytes, revision: this.image.revision }, {
      durable: (change) => {
        if (change.events.length > 0) this.hub.publish(change.events, change.revision);
      },
      failed: (changes) => this.rollback(changes),
      idle: () => this.maybeCompact(),
    });
    for (const id of this.image.leases.ids()) {
      const ttl = this.image.leases.get(id)?.ttlSeconds ?? 0;
      this.image.leases.schedule(id, ttl * 1000, () => void this.expireLease(id, `lease ${id} of an earlier run expired ${ttl} s after the store reopened`));
    }
  }

  async get(key: string): Promise<KvEntry | undefined> {
    checkKey(key);
    return this.readDurable(() => this.image.state.get(key));
  }

  async list(prefix: string): Promise<KvEntry[]> {
    checkPrefix(prefix);
    return this.readDurable(() => this.image.state.list(prefix));
  }

  async revision(): Promise<number> {
    return this.readDurable(() => this.image.revision);
  }

  async put(key: string, value: string, options?: KvWriteOptions & { lease?: LeaseId }): Promise<number> {
    return (await this.txn([], [{ type: 'put', key, value, ...(options?.lease !== undefined ? { lease: options.lease } : {}) }], [], options)).revision;
  }

  async delete(key: string, options?: KvWriteOptions): Promise<boolean> {
    checkKey(key);
    return (await this.execute([], [{ type: 'delete', key }], [], options)).changed;
  }

  async txn(compares: readonly KvCompare[], onSuccess: readonly KvWrite[], onFailure: readonly KvWrite[] = [], options?: KvWriteOptions): Promise<KvTxnResult> {
    const { succeeded, revision } = await this.execute(compares, onSuccess, onFailure, options);
    return { succeeded, revision };
  }

  /** fdatasyncs of the log so far (the daemon-crash-only writes skip them). */
  get syncCount(): number {
    return this.commits.syncs;
  }

  async watch(prefix: string, handlers: KvWatchHandlers, options?: { fromRevision?: number }): Promise<KvWatch> {
    this.checkOpen();
    checkPrefix(prefix);
    const from = options?.fromRevision;
    if (from !== undefined && (!Number.isInteger(from) || from < 0)) throw new TsnetError('TSNET_KV_REVISION', `watch revision ${from} is not a whole number >= 0`);
    return this.hub.add(prefix, handlers, from);
  }

  async grantLease(ttlSeconds: number): Promise<KvLease> {
    checkTtl(ttlSeconds);
    const id = randomBytes(8).toString('hex');
    await this.submit(this.apply({ writes: [], grants: [[id, ttlSeconds]] }));
    return createLeaseHandle(id, ttlSeconds, {
      table: this.image.leases,
      revoke: () => this.endLease(id),
      expire: (reason) => this.expireLease(id, reason),
    });
  }

  /** Waits for writes in flight, then releases the log and the directory lock. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.image.leases.stopTimers();
      await this.commits.drain();
      this.hub.cancelAll();
      await this.commits.close().catch((err: unknown) => this.options.log?.warn({ err }, 'closing the store log failed'));
      await this.lock.release();
    })();
    return this.closing;
  }

  /** One transaction: compares and application happen synchronously, then the log write. */
  private async execute(compares: readonly KvCompare[], onSuccess: readonly KvWrite[], onFailure: readonly KvWrite[], options?: KvWriteOptions): Promise<KvTxnResult & { changed: boolean }> {
    for (const c of compares) checkKey(c.key);
    validateWrites(onSuccess);
    validateWrites(onFailure);
    for (;;) {
      this.checkOpen();
      const epoch = this.epoch;
      const succeeded = compares.every((c) => this.holds(c));
      const writes = expandWrites(succeeded ? onSuccess : onFailure, this.image);
      const applied = writes.length > 0 ? this.apply({ writes }) : undefined;
      if (applied) return { succeeded, revision: await this.submit(applied, options?.survives !== 'daemon-crash'), changed: true };
      // Nothing changed: the outcome is a read of the current state, so it waits like a read.
      const revision = this.image.revision;
      if (await this.isDurable(revision, epoch)) return { succeeded, revision, changed: false };
    }
  }

  private holds(c: KvCompare): boolean {
    const entry = this.image.state.get(c.key);
    switch (c.kind) {
      case 'absent': return entry === undefined;
      case 'present': return entry !== undefined;
      case 'mod-revision': return (entry?.modRevision ?? 0) === c.revision;
      // As in etcd, a value compare on a missing key is false whatever the value.
      case 'value': return entry !== undefined && entry.value === c.value;
    }
  }

  private apply(change: Change): AppliedChange | undefined {
    this.checkOpen();
    if (this.commits.broken) throw this.commits.broken;
    return this.image.apply(change);
  }

  private async submit(applied: AppliedChange | undefined, sync = true): Promise<number> {
    return applied ? this.commits.submit(applied, sync) : this.image.revision;
  }

  private async readDurable<T>(read: () => T): Promise<T> {
    for (;;) {
      this.checkOpen();
      const epoch = this.epoch;
      const value = read();
      if (await this.isDurable(this.image.revision, epoch)) return value;
    }
  }

  /** True once `revision` is durable; false if changes were rolled back meanwhile (look again). */
  private async isDurable(revision: number, epoch: number): Promise<boolean> {
    if (this.commits.durableRevision >= revision) return true;
    await this.commits.settled();
    return this.epoch === epoch;
  }

  private rollback(changes: readonly AppliedChange[]): void {
    for (let i = changes.length - 1; i >= 0; i--) this.image.rollback(changes[i] as AppliedChange);
    this.epoch++;
  }

  /** Ends a lease now: its keys are deleted and the end is logged, in one transaction. */
  private async endLease(id: LeaseId): Promise<void> {
    const lease = this.image.leases.get(id);
    if (!lease) return;
    await this.submit(this.apply({ writes: [...lease.keys].map((key) => ({ type: 'delete', key })), ends: [id] }));
  }

  /** A lease's TTL ran out: end it, then tell its holder. Retries while the disk refuses. */
  private async expireLease(id: LeaseId, reason: string): Promise<void> {
    const listeners = [...(this.image.leases.get(id)?.lostListeners ?? [])];
    try {
      await this.endLease(id);
    } catch (err) {
      if (this.closed || this.commits.broken) return;
      this.options.log?.warn({ err, lease: id }, 'could not expire a store lease; retrying');
      this.image.leases.schedule(id, 1_000, () => void this.expireLease(id, reason));
      return;
    }
    for (const listener of listeners) {
      try {
        listener(reason);
      } catch (err) {
        this.options.log?.warn({ err }, 'a lease onLost listener threw; ignored');
      }
    }
  }

  /** After a batch: fold the log into a snapshot once it outgrows the last snapshot. */
  private async maybeCompact(): Promise<void> {
    if (this.commits.bytes < this.nextCompaction) return;
    const data = this.image.durableData(this.commits.pending(), this.commits.durableRevision);
    try {
      const size = await writeSnapshot(this.options.dir, data);
      // Records up to the snapshot's revision are skipped on replay, so a crash here loses nothing.
      await this.commits.reset();
      this.nextCompaction = Math.max(this.compactBytes, size);
    } catch (err) {
      this.nextCompaction = this.commits.bytes + this.compactBytes;
      this.options.log?.error({ err, dir: this.options.dir }, 'store compaction failed; the log keeps growing until the next attempt');
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new TsnetError('TSNET_KV_CLOSED', `${this.description} is closed`, 'the daemon is shutting down; retry after it restarts');
  }
}

async function ioStep<T>(what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof TsnetError) throw err;
    throw new TsnetError('TSNET_KV_IO', `could not ${what}: ${errorText(err)}`, 'check free disk space and the permissions of the state directory', { cause: err });
  }
}
