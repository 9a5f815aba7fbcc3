import type { KvEvent, KvWatch, KvWatchHandlers } from '../kvstore.js';

/** How many committed transactions are kept for watches that resume from a revision. */
const HISTORY_LIMIT = 10_000;

interface Watcher {
  readonly prefix: string;
  readonly handlers: KvWatchHandlers;
  active: boolean;
}

/**
 * Delivers committed transactions to in-process watchers, in revision order, one call per
 * transaction. A watcher's exceptions are contained: a bad consumer cannot break the store.
 */
export class WatchHub {
  private readonly watchers = new Set<Watcher>();
  private readonly history: Array<{ revision: number; events: readonly KvEvent[] }> = [];

  add(prefix: string, handlers: KvWatchHandlers, fromRevision: number | undefined, currentRevision: number): KvWatch {
    const watcher: Watcher = { prefix, handlers, active: true };
    if (fromRevision !== undefined && fromRevision < currentRevision) {
      const oldest = this.history[0]?.revision;
      if (oldest === undefined || oldest > fromRevision + 1) {
        queueMicrotask(() => watcher.active && safely(() => handlers.onResync?.(`revision ${fromRevision} is older than the retained history`)));
      } else {
        for (const { revision, events } of this.history.filter((h) => h.revision > fromRevision)) deliver(watcher, events, revision);
      }
    }
    this.watchers.add(watcher);
    return {
      cancel: async () => {
        watcher.active = false;
        this.watchers.delete(watcher);
      },
    };
  }

  publish(events: readonly KvEvent[], revision: number): void {
    this.history.push({ revision, events });
    // Trim in batches so a publish stays O(1) amortised.
    if (this.history.length >= 2 * HISTORY_LIMIT) this.history.splice(0, this.history.length - HISTORY_LIMIT);
    for (const watcher of this.watchers) deliver(watcher, events, revision);
  }

  cancelAll(): void {
    for (const watcher of this.watchers) watcher.active = false;
    this.watchers.clear();
  }
}

function deliver(watcher: Watcher, events: readonly KvEvent[], revision: number): void {
  const mine = events.filter((e) => (e.type === 'put' ? e.entry.key : e.key).startsWith(watcher.prefix));
  if (mine.length === 0 || !watcher.active) return;
  safely(() => watcher.handlers.onEvents(mine, revision));
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A consumer's bug must not corrupt the store or stop delivery to other watchers.
  }
}
