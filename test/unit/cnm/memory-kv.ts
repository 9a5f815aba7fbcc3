import type { KvCompare, KvEntry, KvLease, KvStore, KvTxnResult, KvWatch, KvWrite } from '../../../kvstore/kvstore.js';

/**
 * A minimal in-memory KvStore for unit tests of code that only needs get/put/list/txn. It can
 * be told to fail writes, to check that callers leave no half-applied state behind.
 */
export class MemoryKvStore implements KvStore {
  readonly description = 'memory';
  private readonly data = new Map<string, KvEntry>();
  private rev = 1;
  failWrites = false;

  async get(key: string) { return this.data.get(key); }
  async list(prefix: string) { return [...this.data.values()].filter((e) => e.key.startsWith(prefix)).sort((a, b) => a.key.localeCompare(b.key)); }
  async put(key: string, value: string) { await this.txn([], [{ type: 'put', key, value }]); return this.rev; }
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
    if (writes.length > 0) this.rev++;
    for (const w of writes) {
      if (w.type === 'put') this.data.set(w.key, { key: w.key, value: w.value, createRevision: this.data.get(w.key)?.createRevision ?? this.rev, modRevision: this.rev });
      else if (w.type === 'delete') this.data.delete(w.key);
      else for (const k of [...this.data.keys()]) if (k.startsWith(w.prefix)) this.data.delete(k);
    }
    return { succeeded: ok, revision: this.rev };
  }

  async watch(): Promise<KvWatch> { return { cancel: async () => undefined }; }
  async grantLease(): Promise<KvLease> { throw new Error('MemoryKvStore has no leases'); }
  async close() {}
}
