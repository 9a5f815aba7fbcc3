import { checkKey, checkPrefix, checkTtl, validateWrites } from '../../../kvstore/local/validate.js';
import type {
  KvCompare, KvEntry, KvEvent, KvLease, KvStore, KvTxnResult, KvWatch, KvWatchHandlers, KvWrite, LeaseId,
} from '../../../kvstore/kvstore.js';
import { TsnetError } from '../../../src/core/errors.js';

/** One lease: the keys attached to it, its holder's onLost listeners, its expiry once released. */
interface MemoryLease {
  readonly ttlSeconds: number;
  readonly keys: Set<string>;
  readonly lost: Array<(reason: string) => void>;
  timer?: NodeJS.Timeout;
}

/** A watcher's pending deliveries, drained in order in a microtask (stores deliver asynchronously). */
interface MemoryWatcher {
  readonly prefix: string;
  readonly handlers: KvWatchHandlers;
  readonly queue: Array<{ events: KvEvent[]; revision: number }>;
  cancelled: boolean;
  draining: boolean;
}

/** A write resolved against the current data: delete-prefix expanded, leases checked. */
type PlainWrite = { type: 'put'; key: string; value: string; lease?: LeaseId } | { type: 'delete'; key: string };

/**
 * An in-memory KvStore for unit tests that keeps the whole KvStore contract (it runs
 * kvstore/conformance.ts, as the file and etcd stores do): every transaction is validated
 * whole, then its compares are checked and its writes applied in one synchronous step at one
 * revision, or nothing is applied; a write that changes nothing leaves the revision alone;
 * watches deliver one call per transaction, in order, and replay from a revision (history is
 * never compacted); leases delete their keys in one revision when revoked or, once released,
 * when their TTL runs out. Differences from a real store, on purpose: nothing is durable, and
 * `expire()` lets a test end a lease at once as etcd does when a holder vanishes.
 */
export class MemoryKvStore implements KvStore {
  readonly description = 'memory store';
  /** Fault injection: while true, every transaction that would write fails before changing anything. */
  failWrites = false;
  private readonly data = new Map<string, KvEntry>();
  private readonly history: Array<{ events: KvEvent[]; revision: number }> = [];
  private readonly watchers = new Set<MemoryWatcher>();
  private readonly leases = new Map<LeaseId, MemoryLease>();
  private rev = 1;
  private nextLease = 1;
  private closed = false;

  async get(key: string): Promise<KvEntry | undefined> {
    this.checkOpen();
    return this.data.get(checkKey(key));
  }

  async list(prefix: string): Promise<KvEntry[]> {
    this.checkOpen();
    checkPrefix(prefix);
    return [...this.data.values()].filter((e) => e.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async revision(): Promise<number> {
    this.checkOpen();
    return this.rev;
  }

  async put(key: string, value: string, options?: { lease?: LeaseId }): Promise<number> {
    const write: KvWrite = options?.lease === undefined ? { type: 'put', key, value } : { type: 'put', key, value, lease: options.lease };
    return this.execute([], [write], []).revision;
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    return this.execute([], [{ type: 'delete', key }], []).changed;
  }

  async txn(compares: readonly KvCompare[], onSuccess: readonly KvWrite[], onFailure: readonly KvWrite[] = []): Promise<KvTxnResult> {
    const { succeeded, revision } = this.execute(compares, onSuccess, onFailure);
    return { succeeded, revision };
  }

  async watch(prefix: string, handlers: KvWatchHandlers, options?: { fromRevision?: number }): Promise<KvWatch> {
    this.checkOpen();
    checkPrefix(prefix);
    const from = options?.fromRevision;
    if (from !== undefined && (!Number.isInteger(from) || from < 0)) throw new TsnetError('TSNET_KV_REVISION', `watch revision ${from} is not a whole number >= 0`);
    const watcher: MemoryWatcher = { prefix, handlers, queue: [], cancelled: false, draining: false };
    if (from !== undefined) for (const change of this.history) if (change.revision > from) this.enqueue(watcher, change.events, change.revision);
    this.watchers.add(watcher);
    return {
      cancel: async () => {
        watcher.cancelled = true;
        this.watchers.delete(watcher);
      },
    };
  }

  async grantLease(ttlSeconds: number): Promise<KvLease> {
    this.checkOpen();
    checkTtl(ttlSeconds);
    const id = `memory-lease-${this.nextLease++}`;
    const lease: MemoryLease = { ttlSeconds, keys: new Set(), lost: [] };
    this.leases.set(id, lease);
    let revokedHere = false;
    return {
      id,
      ttlSeconds,
      onLost: (listener) => {
        if (this.leases.get(id) === lease) lease.lost.push(listener);
        else if (!revokedHere) queueMicrotask(() => callSafely(listener, `lease ${id} no longer exists`));
      },
      revoke: async () => {
        revokedHere = true;
        this.endLease(id);
      },
      release: async () => {
        if (this.leases.get(id) !== lease || lease.timer) return;
        lease.timer = setTimeout(() => void this.expire(id, `lease ${id} expired ${ttlSeconds} s after it was released`), ttlSeconds * 1000);
      },
    };
  }

  /** What etcd does when a holder vanishes and its lease times out: the keys go in one revision, then onLost fires. */
  async expire(leaseId: LeaseId, reason = `lease ${leaseId} expired`): Promise<void> {
    const listeners = [...(this.leases.get(leaseId)?.lost ?? [])];
    this.endLease(leaseId);
    for (const listener of listeners) callSafely(listener, reason);
  }

  /** Idempotent: stops lease timers and watches; every later call fails as a closed store's would. */
  async close(): Promise<void> {
    this.closed = true;
    for (const lease of this.leases.values()) clearTimeout(lease.timer);
    for (const watcher of this.watchers) watcher.cancelled = true;
    this.watchers.clear();
  }

  /** Validates everything first, then applies one branch at one revision, synchronously. */
  private execute(compares: readonly KvCompare[], onSuccess: readonly KvWrite[], onFailure: readonly KvWrite[]): KvTxnResult & { changed: boolean } {
    this.checkOpen();
    for (const c of compares) checkKey(c.key);
    validateWrites(onSuccess);
    validateWrites(onFailure);
    const succeeded = compares.every((c) => this.holds(c));
    const writes = this.resolve(succeeded ? onSuccess : onFailure);
    if (writes.length > 0 && this.failWrites) throw new TsnetError('TSNET_KV_IO', 'injected store failure', 'the test set failWrites');
    if (writes.length === 0) return { succeeded, revision: this.rev, changed: false };
    const revision = ++this.rev;
    const events = writes.map((w) => this.applyWrite(w, revision));
    this.history.push({ events, revision });
    for (const watcher of this.watchers) this.enqueue(watcher, events, revision);
    return { succeeded, revision, changed: true };
  }

  private holds(c: KvCompare): boolean {
    const entry = this.data.get(c.key);
    switch (c.kind) {
      case 'absent': return entry === undefined;
      case 'present': return entry !== undefined;
      case 'mod-revision': return (entry?.modRevision ?? 0) === c.revision;
      case 'value': return entry !== undefined && entry.value === c.value; // etcd: false on a missing key
    }
  }

  /** Expands delete-prefix, drops deletes of missing keys (they change nothing), refuses dead leases. */
  private resolve(writes: readonly KvWrite[]): PlainWrite[] {
    const out: PlainWrite[] = [];
    for (const w of writes) {
      if (w.type === 'delete-prefix') {
        for (const key of [...this.data.keys()].sort()) if (key.startsWith(w.prefix)) out.push({ type: 'delete', key });
      } else if (w.type === 'delete') {
        if (this.data.has(w.key)) out.push(w);
      } else {
        if (w.lease !== undefined && !this.leases.has(w.lease)) {
          throw new TsnetError('TSNET_KV_LEASE_GONE', `lease ${w.lease} for store key ${w.key} does not exist (it expired or was revoked)`, 'grant a new lease and write the key again');
        }
        out.push(w);
      }
    }
    return out;
  }

  private applyWrite(w: PlainWrite, revision: number): KvEvent {
    const old = this.data.get(w.key);
    if (old?.lease !== undefined) this.leases.get(old.lease)?.keys.delete(w.key);
    if (w.type === 'delete') {
      this.data.delete(w.key);
      return { type: 'delete', key: w.key, modRevision: revision };
    }
    const entry: KvEntry = {
      key: w.key, value: w.value, createRevision: old?.createRevision ?? revision, modRevision: revision,
      ...(w.lease !== undefined ? { lease: w.lease } : {}),
    };
    if (w.lease !== undefined) this.leases.get(w.lease)?.keys.add(w.key);
    this.data.set(w.key, entry);
    return { type: 'put', entry };
  }

  /** Ends a lease: its keys are deleted in one transaction. Idempotent. */
  private endLease(id: LeaseId): void {
    const lease = this.leases.get(id);
    if (!lease) return;
    clearTimeout(lease.timer);
    this.leases.delete(id);
    if (!this.closed && lease.keys.size > 0) this.execute([], [...lease.keys].sort().map((key) => ({ type: 'delete' as const, key })), []);
  }

  private enqueue(watcher: MemoryWatcher, events: readonly KvEvent[], revision: number): void {
    const mine = events.filter((e) => (e.type === 'put' ? e.entry.key : e.key).startsWith(watcher.prefix));
    if (mine.length === 0) return;
    watcher.queue.push({ events: mine, revision });
    if (watcher.draining) return;
    watcher.draining = true;
    queueMicrotask(() => {
      for (let next = watcher.queue.shift(); next && !watcher.cancelled; next = watcher.queue.shift()) {
        try {
          watcher.handlers.onEvents(next.events, next.revision);
        } catch {
          // A consumer's bug must break neither the store nor other watchers (the contract).
        }
      }
      watcher.draining = false;
    });
  }

  private checkOpen(): void {
    if (this.closed) throw new TsnetError('TSNET_KV_CLOSED', `${this.description} is closed`);
  }
}

function callSafely(listener: (reason: string) => void, reason: string): void {
  try {
    listener(reason);
  } catch {
    // A holder's bug must not surface as an uncaught exception inside the store.
  }
}
