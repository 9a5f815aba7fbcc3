import type { KvEvent, KvWatch, KvWatchHandlers } from '../kvstore.js';

/**
 * Events kept for watches that resume from a revision (at least the latest transaction is
 * kept). The watchers are in this process and resume only across the short gap between a list
 * and its watch; one that falls further behind gets onResync and lists again. Each event holds
 * its key and value, so this bounds what the history costs a busy host: with 10,000, a daemon
 * that had started ~1,200 containers kept ~1.9 MiB of old records' strings, and a busier one
 * would keep up to ~5 MiB.
 */
const HISTORY_EVENTS = 1_000;

interface Watcher {
  readonly prefix: string;
  readonly handlers: KvWatchHandlers;
  /** Live events up to this revision were asked not to be delivered (a future fromRevision). */
  readonly after: number;
  active: boolean;
}

interface Committed {
  readonly revision: number;
  readonly events: readonly KvEvent[];
}

/** What stands in the history's consumed front (never read: lookups start at its head). */
const DROPPED: Committed = { revision: 0, events: [] };

/**
 * Delivers durable transactions to in-process watchers in revision order, one onEvents call
 * per transaction, and keeps a bounded history so a watch can resume from a revision. A
 * consumer's exception is logged through `onError` and otherwise ignored: a bad consumer must
 * not break the store or starve the other watchers.
 */
export class WatchHub {
  private readonly watchers = new Set<Watcher>();
  private history: Committed[] = [];
  private head = 0;
  private events = 0;

  /**
   * @param completeAfter every transaction after this revision is (or will be) in the history;
   *   a watch from an older revision gets onResync.
   */
  constructor(private completeAfter: number, private readonly onError: (err: unknown) => void = () => undefined) {}

  /** Seeds the history on open with transactions replayed from the log (not delivered to anyone). */
  seed(committed: readonly Committed[]): void {
    for (const c of committed) this.remember(c);
  }

  /** Replays retained history after `fromRevision`, then delivers live transactions. */
  add(prefix: string, handlers: KvWatchHandlers, fromRevision?: number): KvWatch {
    const watcher: Watcher = { prefix, handlers, after: fromRevision ?? 0, active: true };
    const cancel = async () => {
      watcher.active = false;
      this.watchers.delete(watcher);
    };
    if (fromRevision !== undefined && fromRevision < this.completeAfter) {
      // As with a compacted etcd revision, the watch ends: the caller re-lists and watches again.
      watcher.active = false;
      const reason = `revision ${fromRevision} is older than the history this store keeps (it starts after ${this.completeAfter})`;
      queueMicrotask(() => this.safely(() => handlers.onResync?.(reason)));
      return { cancel };
    }
    if (fromRevision !== undefined) {
      for (let i = this.firstAfter(fromRevision); i < this.history.length; i++) this.deliver(watcher, this.history[i] as Committed);
    }
    this.watchers.add(watcher);
    return { cancel };
  }

  publish(events: readonly KvEvent[], revision: number): void {
    const committed = { revision, events };
    this.remember(committed);
    // A copy: a watcher added by a handler during this loop has already replayed this revision.
    for (const watcher of [...this.watchers]) this.deliver(watcher, committed);
  }

  cancelAll(): void {
    for (const watcher of this.watchers) watcher.active = false;
    this.watchers.clear();
  }

  private remember(committed: Committed): void {
    this.history.push(committed);
    this.events += committed.events.length;
    while (this.events > HISTORY_EVENTS && this.history.length - this.head > 1) {
      const dropped = this.history[this.head] as Committed;
      // Its events go now, not when the consumed front is cut off below.
      this.history[this.head++] = DROPPED;
      this.events -= dropped.events.length;
      this.completeAfter = dropped.revision;
    }
    // Drop the consumed front in one go so a publish stays O(1) amortised.
    if (this.head > 1024 && this.head * 2 > this.history.length) {
      this.history = this.history.slice(this.head);
      this.head = 0;
    }
  }

  private firstAfter(revision: number): number {
    let lo = this.head;
    let hi = this.history.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.history[mid] as Committed).revision <= revision) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private deliver(watcher: Watcher, { revision, events }: Committed): void {
    if (!watcher.active || revision <= watcher.after) return;
    const mine = events.filter((e) => (e.type === 'put' ? e.entry.key : e.key).startsWith(watcher.prefix));
    if (mine.length > 0) this.safely(() => watcher.handlers.onEvents(mine, revision));
  }

  private safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.onError(err);
    }
  }
}
