import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { TsnetError, invalid } from '../../src/core/errors.js';
import type { KvCompare, KvEntry, KvEvent, KvLease, KvStore, KvTxnResult, KvWatch, KvWatchHandlers, KvWrite, LeaseId } from '../kvstore.js';
import { acquireDirLock } from './lock.js';
import { LocalLeases } from './leases.js';
import { KvState } from './state.js';
import { WatchHub } from './watch-hub.js';
import { decodeRecords, encodeRecord } from './wal.js';

const WAL_FILE = 'wal.log';
const SNAPSHOT_FILE = 'snapshot.json';
/** The log is folded into a snapshot once it grows past this. */
const COMPACT_BYTES = 8 * 1024 * 1024;

type StoredWrite = { p: { k: string; v: string; c: number; l?: LeaseId } } | { d: string };
interface WalRecord { r: number; w: StoredWrite[] }
interface Snapshot { revision: number; entries: Array<{ k: string; v: string; c: number; m: number; l?: LeaseId }> }

interface PendingCommit {
  readonly record: Buffer;
  readonly revision: number;
  readonly events: KvEvent[];
  readonly undo: Array<[string, KvEntry | undefined]>;
  resolve(): void;
  reject(err: unknown): void;
}

export interface FileKvStoreOptions {
  readonly dir: string;
  readonly log?: Logger;
  /** Log size that triggers a snapshot (default 8 MiB). */
  readonly compactBytes?: number;
}

/**
 * The embedded local store: an in-memory image made durable by a write-ahead log (fsync'd
 * before a write is acknowledged) and periodic snapshots. Writes that arrive while a sync is
 * in flight are committed together by the next one (group commit). A `kill -9` at any point
 * leaves each transaction either wholly present or wholly absent on reopen.
 *
 * Leases are meaningful only while the owning process lives: on open, keys attached to leases
 * of a previous process are deleted, since their holder is gone.
 */
export async function openFileKvStore(options: FileKvStoreOptions): Promise<FileKvStore> {
  await mkdir(options.dir, { recursive: true, mode: 0o700 }).catch((err: unknown) => {
    throw new TsnetError('TSNET_KV_IO', 'unavailable', `cannot create state directory ${options.dir}: ${(err as Error).message}`, 'check the path and permissions', { cause: err });
  });
  const unlock = await acquireDirLock(options.dir);
  try {
    const store = new FileKvStore(options, unlock);
    await store.load();
    return store;
  } catch (err) {
    await unlock();
    throw err;
  }
}

export class FileKvStore implements KvStore {
  readonly description: string;
  private readonly state = new KvState();
  private readonly hub = new WatchHub();
  private readonly leases: LocalLeases;
  private rev = 1;
  private wal?: FileHandle;
  private walSize = 0;
  private queue: PendingCommit[] = [];
  private flushing?: Promise<void>;
  private closed = false;

  constructor(private readonly options: FileKvStoreOptions, private readonly unlock: () => Promise<void>) {
    this.description = `file store ${options.dir}`;
    this.leases = new LocalLeases((id) => this.expireLease(id));
  }

  /** Snapshot, then log replay up to the last intact record; the torn tail is cut off. */
  async load(): Promise<void> {
    const snapshotText = await readFile(join(this.options.dir, SNAPSHOT_FILE), 'utf8').catch(() => undefined);
    if (snapshotText !== undefined) {
      const snapshot = JSON.parse(snapshotText) as Snapshot;
      this.rev = snapshot.revision;
      for (const e of snapshot.entries) this.state.set({ key: e.k, value: e.v, createRevision: e.c, modRevision: e.m, lease: e.l });
    }
    const walPath = join(this.options.dir, WAL_FILE);
    const data = await readFile(walPath).catch(() => Buffer.alloc(0));
    const { records, validLength } = decodeRecords<WalRecord>(data);
    for (const record of records.filter((r) => r.r > this.rev)) this.replay(record);
    this.wal = await this.ioStep(`open ${walPath}`, () => open(walPath, 'a+', 0o600));
    if (validLength < data.length) {
      this.options.log?.warn({ dropped: data.length - validLength }, 'discarding the torn tail of the store log (an interrupted write)');
      await this.ioStep('truncate the log', () => (this.wal as FileHandle).truncate(validLength));
    }
    this.walSize = validLength;
    const orphaned = this.state.all().filter((e) => e.lease !== undefined).map((e) => e.key);
    if (orphaned.length > 0) await this.txn([], orphaned.map((key) => ({ type: 'delete', key })));
  }

  async get(key: string): Promise<KvEntry | undefined> {
    this.checkOpen();
    return this.state.get(checkKey(key));
  }

  async list(prefix: string): Promise<KvEntry[]> {
    this.checkOpen();
    return this.state.list(prefix);
  }

  async revision(): Promise<number> {
    return this.rev;
  }

  async put(key: string, value: string, options?: { lease?: LeaseId }): Promise<number> {
    return (await this.txn([], [{ type: 'put', key, value, lease: options?.lease }])).revision;
  }

  async delete(key: string): Promise<boolean> {
    const existed = this.state.get(checkKey(key)) !== undefined;
    await this.txn([], [{ type: 'delete', key }]);
    return existed;
  }

  /** Compares and applies synchronously (so transactions are serialisable), then waits for durability. */
  txn(compares: readonly KvCompare[], onSuccess: readonly KvWrite[], onFailure: readonly KvWrite[] = []): Promise<KvTxnResult> {
    try {
      this.checkOpen();
      for (const c of compares) checkKey(c.key);
      const succeeded = compares.every((c) => this.holds(c));
      const writes = this.expand(succeeded ? onSuccess : onFailure);
      if (writes.length === 0) return Promise.resolve({ succeeded, revision: this.rev });
      return this.commit(writes).then((revision) => ({ succeeded, revision }));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async watch(prefix: string, handlers: KvWatchHandlers, options?: { fromRevision?: number }): Promise<KvWatch> {
    this.checkOpen();
    return this.hub.add(prefix, handlers, options?.fromRevision, this.rev);
  }

  async grantLease(ttlSeconds: number): Promise<KvLease> {
    this.checkOpen();
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) throw invalid('TSNET_KV_LEASE', `lease TTL ${ttlSeconds} is not a positive whole number of seconds`);
    return this.leases.grant(randomBytes(8).toString('hex'), ttlSeconds);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushing;
    this.leases.stopAll();
    this.hub.cancelAll();
    await this.wal?.close();
    await this.unlock();
  }

  private holds(c: KvCompare): boolean {
    const entry = this.state.get(c.key);
    switch (c.kind) {
      case 'absent': return entry === undefined;
      case 'present': return entry !== undefined;
      case 'mod-revision': return (entry?.modRevision ?? 0) === c.revision;
      case 'value': return entry?.value === c.value;
    }
  }

  /** Resolves delete-prefix into explicit deletes and validates every write. */
  private expand(writes: readonly KvWrite[]): Array<Exclude<KvWrite, { type: 'delete-prefix' }>> {
    return writes.flatMap((w) => {
      if (w.type === 'delete-prefix') return this.state.keysWithPrefix(w.prefix).map((key) => ({ type: 'delete' as const, key }));
      checkKey(w.key);
      if (w.type === 'put') {
        if (typeof w.value !== 'string') throw invalid('TSNET_KV_VALUE', `value for key ${w.key} is not a string`);
        if (w.lease !== undefined && !this.leases.has(w.lease)) throw new TsnetError('TSNET_KV_LEASE', 'not-found', `lease ${w.lease} does not exist (expired or revoked)`, 'grant a new lease');
      }
      return [w];
    });
  }

  private commit(writes: Array<Exclude<KvWrite, { type: 'delete-prefix' }>>): Promise<number> {
    const revision = ++this.rev;
    const undo: Array<[string, KvEntry | undefined]> = [];
    const events: KvEvent[] = [];
    const stored: StoredWrite[] = [];
    for (const w of writes) {
      const before = this.state.get(w.key);
      undo.push([w.key, before]);
      if (w.type === 'put') {
        const entry: KvEntry = { key: w.key, value: w.value, createRevision: before?.createRevision ?? revision, modRevision: revision, lease: w.lease };
        this.state.set(entry);
        this.leases.track(before?.lease, w.lease, w.key);
        events.push({ type: 'put', entry });
        stored.push({ p: { k: w.key, v: w.value, c: entry.createRevision, l: w.lease } });
      } else if (before) {
        this.state.delete(w.key);
        this.leases.track(before.lease, undefined, w.key);
        events.push({ type: 'delete', key: w.key, modRevision: revision });
        stored.push({ d: w.key });
      }
    }
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ record: encodeRecord({ r: revision, w: stored } satisfies WalRecord), revision, events, undo, resolve: () => resolve(revision), reject });
      this.flushing ??= this.flushLoop().finally(() => { this.flushing = undefined; });
    });
  }

  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      const bytes = Buffer.concat(batch.map((c) => c.record));
      try {
        await (this.wal as FileHandle).write(bytes, 0, bytes.length, null);
        await (this.wal as FileHandle).datasync();
      } catch (err) {
        this.failBatch([...batch, ...this.queue.splice(0)], err);
        await (this.wal as FileHandle).truncate(this.walSize).catch(() => undefined);
        continue;
      }
      this.walSize += bytes.length;
      for (const c of batch) {
        this.hub.publish(c.events, c.revision);
        c.resolve();
      }
      if (this.walSize > (this.options.compactBytes ?? COMPACT_BYTES)) await this.compact().catch((err: unknown) => this.options.log?.error({ err }, 'store compaction failed; will retry'));
    }
  }

  /** A failed write: undo it (and every later transaction, which may depend on it) in memory. */
  private failBatch(failed: PendingCommit[], err: unknown): void {
    for (const c of [...failed].reverse()) {
      for (const [key, before] of [...c.undo].reverse()) {
        const now = this.state.get(key);
        if (before) this.state.set(before); else this.state.delete(key);
        this.leases.track(now?.lease, before?.lease, key);
      }
    }
    this.rev = (failed[0]?.revision ?? this.rev + 1) - 1;
    const error = new TsnetError('TSNET_KV_IO', 'unavailable', `could not write the store log in ${this.options.dir}: ${(err as Error).message}`, 'check free disk space and permissions; nothing was changed', { cause: err });
    for (const c of failed) c.reject(error);
  }

  /** Folds the log into a snapshot: write a temp file, fsync, rename, fsync the dir, new log. */
  private async compact(): Promise<void> {
    const snapshot: Snapshot = { revision: this.rev, entries: this.state.all().map((e) => ({ k: e.key, v: e.value, c: e.createRevision, m: e.modRevision, l: e.lease })) };
    const tmp = join(this.options.dir, `${SNAPSHOT_FILE}.tmp`);
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(snapshot));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, join(this.options.dir, SNAPSHOT_FILE));
    const dir = await open(this.options.dir, 'r');
    await dir.sync().finally(() => dir.close());
    // Records up to snapshot.revision are skipped on replay, so a crash here loses nothing.
    await (this.wal as FileHandle).truncate(0);
    this.walSize = 0;
  }

  private replay(record: WalRecord): void {
    for (const w of record.w) {
      if ('p' in w) this.state.set({ key: w.p.k, value: w.p.v, createRevision: w.p.c, modRevision: record.r, lease: w.p.l });
      else this.state.delete(w.d);
    }
    this.rev = Math.max(this.rev, record.r);
  }

  private async expireLease(id: LeaseId): Promise<void> {
    if (this.closed) return;
    const keys = this.leases.keysOf(id);
    this.leases.forget(id);
    if (keys.length > 0) await this.txn([], keys.map((key) => ({ type: 'delete', key })));
  }

  private async ioStep<T>(what: string, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (err) {
      throw new TsnetError('TSNET_KV_IO', 'unavailable', `store: could not ${what}: ${(err as Error).message}`, 'check free disk space and permissions', { cause: err });
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new TsnetError('TSNET_KV_CLOSED', 'unavailable', `${this.description} is closed`, 'this is a tsnet bug if it happens while the daemon runs');
  }
}

function checkKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0 || key.includes('\0') || key.length > 4096) {
    throw invalid('TSNET_KV_KEY', `store key ${JSON.stringify(String(key).slice(0, 64))} is not a non-empty string without NUL of at most 4096 characters`);
  }
  return key;
}
