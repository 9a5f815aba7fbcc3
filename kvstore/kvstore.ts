/**
 * The key-value contract shared by the embedded local store and etcd. It is deliberately the
 * intersection of what etcd v3 offers and what a single-file store can do crash-safely:
 * revisions, multi-key compare-and-swap transactions, prefix watches that resume from a
 * revision, and leases. Keys and values are strings; callers encode JSON themselves.
 */

/** A stored key with etcd-style revisions (store-wide, monotonically increasing). */
export interface KvEntry {
  readonly key: string;
  readonly value: string;
  /** Revision of the transaction that created this key (since its last deletion). */
  readonly createRevision: number;
  /** Revision of the transaction that last wrote this key. */
  readonly modRevision: number;
  /** Lease the key is attached to, if any. */
  readonly lease?: LeaseId;
}

export type LeaseId = string;

/** A condition on one key; a transaction's writes apply only if every condition holds. */
export type KvCompare =
  | { readonly key: string; readonly kind: 'absent' }
  | { readonly key: string; readonly kind: 'present' }
  | { readonly key: string; readonly kind: 'mod-revision'; readonly revision: number }
  | { readonly key: string; readonly kind: 'value'; readonly value: string };

export type KvWrite =
  | { readonly type: 'put'; readonly key: string; readonly value: string; readonly lease?: LeaseId }
  | { readonly type: 'delete'; readonly key: string }
  | { readonly type: 'delete-prefix'; readonly prefix: string };

export interface KvTxnResult {
  /** True when every compare held and the writes were applied atomically. */
  readonly succeeded: boolean;
  /** Store revision after the transaction (unchanged when it failed). */
  readonly revision: number;
}

export type KvEvent =
  | { readonly type: 'put'; readonly entry: KvEntry }
  | { readonly type: 'delete'; readonly key: string; readonly modRevision: number };

export interface KvWatchHandlers {
  /** Events in revision order; the events of one transaction arrive in one call. */
  onEvents(events: readonly KvEvent[], revision: number): void;
  /**
   * The watch cannot resume from the revision asked for (history compacted, or the watch was
   * interrupted beyond repair): the caller must re-list the prefix and watch again.
   */
  onResync?(reason: string): void;
  /** Connection state, for backends that have one (etcd). */
  onStatus?(status: 'connected' | 'disconnected'): void;
}

export interface KvWatch {
  /** Stop delivering events. Idempotent. */
  cancel(): Promise<void>;
}

export interface KvLease {
  readonly id: LeaseId;
  readonly ttlSeconds: number;
  /** Fires once if the lease expired or was revoked behind our back; keys attached are gone. */
  onLost(listener: (reason: string) => void): void;
  /** Revoke now: every key attached to it is deleted. Idempotent. */
  revoke(): Promise<void>;
  /** Stop keeping the lease alive without revoking it (it then expires after its TTL). */
  release(): Promise<void>;
}

/**
 * What a write must survive before it is acknowledged.
 * - `power-loss` (the default): the write is on stable storage (the local store fdatasyncs).
 * - `daemon-crash`: the write survives a crash or kill of the daemon but not of the host (the
 *   local store has written it to its log, not yet fdatasynced it). For records that only
 *   describe kernel state — links, firewall rules — which a power loss takes away with them.
 *   A later `power-loss` write makes every earlier write durable too, so what is on disk after
 *   a power loss is always a prefix of the history. etcd ignores it: its writes are always
 *   replicated and synced.
 */
export type KvDurability = 'power-loss' | 'daemon-crash';

export interface KvWriteOptions {
  readonly survives?: KvDurability;
}

export interface KvStore {
  /** Human-readable identity for logs and errors (never contains credentials). */
  readonly description: string;
  get(key: string): Promise<KvEntry | undefined>;
  /** Every key that starts with `prefix`, sorted by key. */
  list(prefix: string): Promise<KvEntry[]>;
  put(key: string, value: string, options?: KvWriteOptions & { lease?: LeaseId }): Promise<number>;
  /** Returns true when the key existed. */
  delete(key: string, options?: KvWriteOptions): Promise<boolean>;
  /** Atomic: all compares are checked, then `onSuccess` or `onFailure` writes are applied. */
  txn(compares: readonly KvCompare[], onSuccess: readonly KvWrite[], onFailure?: readonly KvWrite[], options?: KvWriteOptions): Promise<KvTxnResult>;
  /** Current store revision. */
  revision(): Promise<number>;
  /**
   * Watch every key under `prefix`. With `fromRevision`, events after that revision are
   * replayed first (exclusive: the caller passes the last revision it has seen).
   */
  watch(prefix: string, handlers: KvWatchHandlers, options?: { fromRevision?: number }): Promise<KvWatch>;
  /** A lease kept alive by the store until revoked, released or lost. */
  grantLease(ttlSeconds: number): Promise<KvLease>;
  /** Flush and release resources (file locks, connections). Idempotent. */
  close(): Promise<void>;
}

/** JSON helpers so callers do not repeat parse/stringify with ad-hoc error handling. */
export async function getJson<T>(store: KvStore, key: string): Promise<{ value: T; modRevision: number } | undefined> {
  const entry = await store.get(key);
  if (!entry) return undefined;
  return { value: JSON.parse(entry.value) as T, modRevision: entry.modRevision };
}

export async function listJson<T>(store: KvStore, prefix: string): Promise<Array<{ key: string; value: T; modRevision: number }>> {
  const entries = await store.list(prefix);
  return entries.map((e) => ({ key: e.key, value: JSON.parse(e.value) as T, modRevision: e.modRevision }));
}
