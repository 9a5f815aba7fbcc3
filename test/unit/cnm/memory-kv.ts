import type { KvCompare, KvEntry, KvEvent, KvLease, KvStore, KvTxnResult, KvWatch, KvWatchHandlers, KvWrite } from '../../../kvstore/kvstore.js';

/**
 * A small in-memory KvStore for unit tests: transactions, prefix watches (delivered
 * asynchronously, one call per transaction) and leases that can be revoked. It can be told to
 * fail writes, to check that callers leave no half-applied state behind.
 */
export class MemoryKvStore implements KvStore {
  readonly description = 'memory';
  private readonly data = new Map<string, KvEntry>();
  private readonly watchers = new Set<{ prefix: string; handlers: KvWatchHandlers }>();
  private readonly leases = new Set<string>();
  private rev = 1;
  private nextLease = 1;
  failWrites = false;

  async get(key: string) { return this.data.get(key); }
  async list(prefix: string) { return [...this.data.values()].filter((e) => e.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : 1)); }
  async put(key: string, value: string, options?: { lease?: string }) { await this.txn([], [{ type: 'put', key, value, lease: options?.lease }]); return this.rev; }
  async delete(key: string) { const had = this.data.has(key); await this.txn([], [{ type: 'delete', key }]); return had; }
  async revision() { return this.rev; }

  async txn(compares: readonly KvCompare[], onSuccess: readonly KvWrite[], onFailure: readonly KvWrite[] = []): Promise<KvTxnResult> {
    if (this.failWrites) throw new Error('injected store failure');
    const ok = compares.every((c) => {
      const e = this.data.get(c.key);
      if (c.kind === 'absent') return !e;
      if (c.kind === 'present') return Boolean(e);
      if (c.kind === 'mod-revision') return (e?.modRevision ?? 0) === c.revision;
      return e?.value === c.value;
    });
    const writes = ok ? onSuccess : onFailure;
    if (writes.length === 0) return { succeeded: ok, revision: this.rev };
    const revision = ++this.rev;
    const events: KvEvent[] = [];
    const remove = (key: string) => { if (this.data.delete(key)) events.push({ type: 'delete', key, modRevision: revision }); };
    for (const w of writes) {
      if (w.type === 'put') {
        if (w.lease && !this.leases.has(w.lease)) throw new Error(`lease ${w.lease} not found`);
        const entry = { key: w.key, value: w.value, createRevision: this.data.get(w.key)?.createRevision ?? revision, modRevision: revision, lease: w.lease };
        this.data.set(w.key, entry);
        events.push({ type: 'put', entry });
      } else if (w.type === 'delete') remove(w.key);
      else for (const k of [...this.data.keys()]) if (k.startsWith(w.prefix)) remove(k);
    }
    this.publish(events, revision);
    return { succeeded: ok, revision };
  }

  async watch(prefix: string, handlers: KvWatchHandlers): Promise<KvWatch> {
    const watcher = { prefix, handlers };
    this.watchers.add(watcher);
    return { cancel: async () => { this.watchers.delete(watcher); } };
  }

  async grantLease(ttlSeconds: number): Promise<KvLease> {
    const id = String(this.nextLease++);
    this.leases.add(id);
    return {
      id, ttlSeconds,
      onLost: () => undefined,
      revoke: () => this.expire(id),
      release: async () => undefined,
    };
  }

  /** What etcd does when a lease times out: every key attached to it goes, in one revision. */
  async expire(leaseId: string): Promise<void> {
    this.leases.delete(leaseId);
    const keys = [...this.data.values()].filter((e) => e.lease === leaseId).map((e) => e.key);
    if (keys.length > 0) await this.txn([], keys.map((key) => ({ type: 'delete' as const, key })));
  }

  async close() {}

  private publish(events: KvEvent[], revision: number): void {
    for (const w of this.watchers) {
      const mine = events.filter((e) => (e.type === 'put' ? e.entry.key : e.key).startsWith(w.prefix));
      if (mine.length > 0) queueMicrotask(() => w.handlers.onEvents(mine, revision));
    }
  }
}
