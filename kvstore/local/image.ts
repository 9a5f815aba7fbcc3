import type { KvEntry, KvEvent, LeaseId } from '../kvstore.js';
import { LeaseTable, type LeaseState } from './leases.js';
import { KvState } from './state.js';
import type { WalRecord } from './wal.js';

/** A put or delete of one key; delete-prefix is resolved to these before a change is applied. */
export type PlainWrite =
  | { readonly type: 'put'; readonly key: string; readonly value: string; readonly lease?: LeaseId }
  | { readonly type: 'delete'; readonly key: string };

/** Everything one transaction changes: key writes and lease grants/ends, logged as one record. */
export interface Change {
  readonly writes: readonly PlainWrite[];
  readonly grants?: ReadonlyArray<readonly [LeaseId, number]>;
  readonly ends?: readonly LeaseId[];
}

/** What apply() did, kept until the change is durable: the record to log and how to undo it. */
export interface AppliedChange {
  readonly revision: number;
  readonly bumped: boolean;
  readonly events: KvEvent[];
  readonly record: WalRecord;
  readonly priors: Array<readonly [string, KvEntry | undefined]>;
  readonly granted: LeaseId[];
  readonly ended: Array<readonly [LeaseId, LeaseState]>;
}

/** The durable part of the image, as written to a snapshot. */
export interface ImageData {
  readonly revision: number;
  readonly entries: KvEntry[];
  readonly leases: Array<[LeaseId, number]>;
}

/**
 * The in-memory store: keys, leases and the revision. Changes are applied here synchronously
 * (so every transaction sees the effect of all earlier ones) before they are durable, and each
 * keeps its priors so that a failed log write can be undone exactly. The revision moves once per
 * transaction that changed a key, as in etcd: a delete of a missing key or a lease grant does not
 * move it.
 */
export class StoreImage {
  readonly state = new KvState();
  readonly leases = new LeaseTable();
  /** Revision 1 is the empty store, as in a fresh etcd cluster. */
  revision = 1;

  /** Applies a change; undefined when it changes nothing (nothing to log, revision unchanged). */
  apply(change: Change): AppliedChange | undefined {
    const revision = this.revision + 1;
    const applied: AppliedChange = { revision, bumped: true, events: [], record: { r: revision, w: [] }, priors: [], granted: [], ended: [] };
    for (const [id, ttl] of change.grants ?? []) {
      if (!this.leases.has(id)) {
        this.leases.add(id, ttl);
        applied.granted.push(id);
      }
    }
    for (const write of change.writes) this.applyWrite(write, applied);
    for (const id of change.ends ?? []) {
      const lease = this.leases.take(id);
      if (lease) applied.ended.push([id, lease]);
    }
    if (applied.granted.length > 0) applied.record.g = applied.granted.map((id) => [id, this.leases.get(id)?.ttlSeconds ?? 0]);
    if (applied.ended.length > 0) applied.record.x = applied.ended.map(([id]) => id);
    if (applied.events.length > 0) {
      this.revision = revision;
      return applied;
    }
    if (applied.granted.length === 0 && applied.ended.length === 0) return undefined;
    return { ...applied, revision: this.revision, bumped: false, record: { ...applied.record, r: this.revision } };
  }

  /** Undoes a change that will never be durable. Called newest first, so priors are exact. */
  rollback(applied: AppliedChange): void {
    for (const [id, lease] of applied.ended) this.leases.restore(id, lease);
    for (let i = applied.priors.length - 1; i >= 0; i--) {
      const [key, prior] = applied.priors[i] as readonly [string, KvEntry | undefined];
      const now = prior ? this.state.get(key) : this.state.delete(key);
      if (prior) this.state.set(prior);
      this.leases.track(now?.lease, prior?.lease, key);
    }
    for (const id of applied.granted) this.leases.take(id);
    if (applied.bumped) this.revision = applied.revision - 1;
  }

  /**
   * Replays one log record on open and returns its events for the watch history. Key writes of
   * records already folded into the snapshot (revision not above it) are skipped; lease grants
   * and ends are last-writer-wins, so they are simply applied in order.
   */
  replay(record: WalRecord): KvEvent[] {
    const fresh = record.r > this.revision;
    for (const [id, ttl] of record.g ?? []) this.leases.add(id, ttl);
    const events: KvEvent[] = [];
    for (const w of fresh ? record.w : []) {
      if ('p' in w) {
        const entry = makeEntry(w.p.k, w.p.v, w.p.c, record.r, w.p.l);
        this.load(entry);
        events.push({ type: 'put', entry });
      } else {
        const before = this.state.delete(w.d);
        if (before) this.leases.track(before.lease, undefined, w.d);
        if (before) events.push({ type: 'delete', key: w.d, modRevision: record.r });
      }
    }
    for (const id of record.x ?? []) this.leases.take(id);
    this.revision = Math.max(this.revision, record.r);
    return events;
  }

  /**
   * Sets an entry while loading. A key on a lease the log never granted (written by a version
   * that did not log leases) gets a lease of TTL 0, which expires as soon as the store opens.
   */
  load(entry: KvEntry): void {
    const before = this.state.get(entry.key);
    if (entry.lease !== undefined && !this.leases.has(entry.lease)) this.leases.add(entry.lease, 0);
    this.state.set(entry);
    this.leases.track(before?.lease, entry.lease, entry.key);
  }

  /** The image as of the last durable change: current state minus the changes still pending. */
  durableData(pending: readonly AppliedChange[], revision: number): ImageData {
    const keys = new Map<string, KvEntry | undefined>();
    const leases = new Map<LeaseId, number | undefined>();
    for (const change of pending) {
      for (const [key, prior] of change.priors) if (!keys.has(key)) keys.set(key, prior);
      for (const id of change.granted) if (!leases.has(id)) leases.set(id, undefined);
      for (const [id, lease] of change.ended) if (!leases.has(id)) leases.set(id, lease.ttlSeconds);
    }
    const entries = [...this.state.values()].filter((e) => !keys.has(e.key));
    for (const prior of keys.values()) if (prior) entries.push(prior);
    const leaseTtls = this.leases.ttls().filter(([id]) => !leases.has(id));
    for (const [id, ttl] of leases) if (ttl !== undefined) leaseTtls.push([id, ttl]);
    return { revision, entries, leases: leaseTtls };
  }

  private applyWrite(write: PlainWrite, applied: AppliedChange): void {
    const { revision } = applied;
    if (write.type === 'put') {
      const before = this.state.get(write.key);
      const entry = makeEntry(write.key, write.value, before?.createRevision ?? revision, revision, write.lease);
      this.state.set(entry);
      this.leases.track(before?.lease, write.lease, write.key);
      applied.priors.push([write.key, before]);
      applied.events.push({ type: 'put', entry });
      applied.record.w.push({ p: { k: write.key, v: write.value, c: entry.createRevision, ...(write.lease !== undefined ? { l: write.lease } : {}) } });
      return;
    }
    const before = this.state.delete(write.key);
    if (!before) return;
    this.leases.track(before.lease, undefined, write.key);
    applied.priors.push([write.key, before]);
    applied.events.push({ type: 'delete', key: write.key, modRevision: revision });
    applied.record.w.push({ d: write.key });
  }
}

/** An entry without a `lease` property when it has none (so entries compare equal across backends). */
export function makeEntry(key: string, value: string, createRevision: number, modRevision: number, lease?: LeaseId): KvEntry {
  return lease === undefined ? { key, value, createRevision, modRevision } : { key, value, createRevision, modRevision, lease };
}
