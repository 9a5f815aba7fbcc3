import { writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { errorText, TsnetError } from '../../src/core/errors.js';
import type { AppliedChange } from './image.js';
import { encodeRecord } from './wal.js';

/** The append-only log file, as the commit log needs it. Tests substitute a failing one. */
export interface LogFile {
  /** Appends every byte of `data` at the end of the file (or throws). */
  append(data: Buffer): Promise<void>;
  /** Makes everything appended so far durable (fdatasync). */
  sync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

/** Opens (creating it if needed) the log file for appending. */
export async function openLogFile(path: string): Promise<LogFile> {
  const handle = await open(path, 'a', 0o600);
  return {
    async append(data) {
      // Written synchronously: a record is a few hundred bytes copied into the page cache, a few
      // microseconds, where an asynchronous write waits for a libuv worker thread and its
      // callback, 0.3–0.5 ms on a busy 2-core host (measured in the lab, for every write of every
      // call). The slow part, fdatasync, stays asynchronous.
      // write(2) may write less than asked (a disk filling up); the rest must follow or fail.
      for (let offset = 0; offset < data.length;) {
        const bytesWritten = writeSync(handle.fd, data, offset, data.length - offset, null);
        if (bytesWritten <= 0) throw new Error(`short write to ${path}`);
        offset += bytesWritten;
      }
    },
    sync: () => handle.datasync(),
    truncate: (length) => handle.truncate(length),
    close: () => handle.close(),
  };
}

/** How the commit log tells the store what became of the changes it was given. */
export interface CommitHooks {
  /** A change is durable. Called in log order, before its submitter's promise resolves. */
  durable(change: AppliedChange): void;
  /** These changes (in log order) will never be durable: undo them in memory, newest first. */
  failed(changes: readonly AppliedChange[]): void;
  /** Runs between batches while nothing is being written (compaction); must not throw. */
  idle(): Promise<void>;
}

interface Pending {
  readonly change: AppliedChange;
  readonly bytes: Buffer;
  /** False for a write that need only survive a daemon crash: written, not fdatasynced. */
  readonly sync: boolean;
  resolve(revision: number): void;
  reject(err: unknown): void;
}

/**
 * Group commit: changes submitted while a write+fsync is in flight are queued and written by the
 * next single write+fsync, so throughput is not bounded by one fsync per transaction. A
 * submitter's promise resolves only after its record is on disk — or, for a change submitted
 * with `sync: false` (see `KvDurability`), once it is in the file: a batch of such changes only
 * is written without an fsync, and the next fsync of any batch makes it durable with the rest.
 *
 * A failed write (ENOSPC, EACCES…) fails its batch and everything queued behind it (later
 * changes may depend on it), the store undoes them in memory, and the partial record is cut off
 * so later records never sit behind garbage. A failed fsync, or a failed cut, leaves the file in
 * an unknown state (the kernel may have dropped the dirty pages): the log then refuses every
 * further write until the store is reopened and recovers from what is really on disk.
 */
export class CommitLog {
  /** Length of the log's intact prefix. */
  bytes: number;
  /** Revision of the last change that is in the log (fdatasynced, or written for a daemon-crash-only change). */
  durableRevision: number;
  /** fdatasyncs done, for tests and for the store's report. */
  syncs = 0;
  /** Set once the log can no longer be trusted; every later write fails with it. */
  broken?: TsnetError;
  private queue: Pending[] = [];
  private running = false;
  private flushing: Promise<void> = Promise.resolve();
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: LogFile,
    private readonly path: string,
    start: { readonly bytes: number; readonly revision: number },
    private readonly hooks: CommitHooks,
  ) {
    this.bytes = start.bytes;
    this.durableRevision = start.revision;
  }

  /**
   * Queues an applied change; resolves with its revision once durable (`sync: false`: once
   * written), rejects if it never will be.
   */
  submit(change: AppliedChange, sync = true): Promise<number> {
    const promise = new Promise<number>((resolve, reject) => {
      this.queue.push({ change, bytes: encodeRecord(change.record), sync, resolve, reject });
    });
    this.tail = promise.then(noop, noop);
    if (!this.running) {
      this.running = true;
      this.flushing = this.flushLoop();
    }
    return promise;
  }

  /** Changes applied in memory but not yet being written, oldest first. */
  pending(): AppliedChange[] {
    return this.queue.map((p) => p.change);
  }

  /** Settles when every change submitted so far has become durable or failed. Never rejects. */
  settled(): Promise<void> {
    return this.tail;
  }

  /** Waits until nothing is queued or being written. */
  async drain(): Promise<void> {
    while (this.running) await this.flushing;
  }

  /** Empties the log; only from `idle()`, after a snapshot has made its contents redundant. */
  async reset(): Promise<void> {
    await this.file.truncate(0);
    this.bytes = 0;
  }

  close(): Promise<void> {
    return this.file.close();
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        await this.writeBatch(batch);
        if (!this.broken) await this.hooks.idle();
      }
    } finally {
      // Cleared synchronously with the loop's last check, so a submit never finds it stale.
      this.running = false;
    }
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    if (this.broken) return this.fail(batch, this.broken);
    const bytes = batch.length === 1 ? (batch[0] as Pending).bytes : Buffer.concat(batch.map((p) => p.bytes));
    try {
      await this.file.append(bytes);
    } catch (err) {
      this.fail(batch, this.ioError('write', err));
      await this.cutTail();
      return;
    }
    if (batch.some((p) => p.sync)) {
      try {
        await this.file.sync();
        this.syncs++;
      } catch (err) {
        this.broken = this.ioError('flush', err, 'restart tsnet so the store reloads what is really on disk');
        return this.fail(batch, this.broken);
      }
    }
    this.bytes += bytes.length;
    for (const p of batch) this.durableRevision = Math.max(this.durableRevision, p.change.revision);
    for (const p of batch) {
      this.hooks.durable(p.change);
      p.resolve(p.change.revision);
    }
  }

  /** Fails a batch and everything queued behind it; the store undoes them synchronously. */
  private fail(batch: Pending[], error: TsnetError): void {
    const failed = [...batch, ...this.queue.splice(0)];
    this.hooks.failed(failed.map((p) => p.change));
    for (const p of failed) p.reject(error);
  }

  /** Cuts a partially written record off the end, or gives up on the log. */
  private async cutTail(): Promise<void> {
    try {
      await this.file.truncate(this.bytes);
      await this.file.sync();
    } catch (err) {
      this.broken = this.ioError('repair', err, 'restart tsnet so the store reloads what is really on disk');
    }
  }

  private ioError(what: string, err: unknown, hint?: string): TsnetError {
    return new TsnetError('TSNET_KV_IO', `could not ${what} the store log ${this.path}: ${errorText(err)}`,
      hint ?? 'check free disk space and the permissions of the state directory; the transaction was not applied', { cause: err });
  }
}

function noop(): void {}
