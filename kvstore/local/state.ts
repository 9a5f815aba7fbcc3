import type { KvEntry } from '../kvstore.js';

/**
 * The in-memory image of the store: entries by key, plus a sorted key index for `list(prefix)`.
 * Writes are O(1); the index is rebuilt lazily on the first list after a change that added or
 * removed keys (lists are rare: start-up and cache loads; writes are the hot path).
 */
export class KvState {
  private readonly entries = new Map<string, KvEntry>();
  private sorted: string[] = [];
  private dirty = false;

  get(key: string): KvEntry | undefined {
    return this.entries.get(key);
  }

  set(entry: KvEntry): void {
    if (!this.entries.has(entry.key)) this.dirty = true;
    this.entries.set(entry.key, entry);
  }

  delete(key: string): void {
    if (this.entries.delete(key)) this.dirty = true;
  }

  keysWithPrefix(prefix: string): string[] {
    const sorted = this.index();
    let end = this.lowerBound(sorted, prefix);
    const start = end;
    while (end < sorted.length && (sorted[end] as string).startsWith(prefix)) end++;
    return sorted.slice(start, end);
  }

  list(prefix: string): KvEntry[] {
    return this.keysWithPrefix(prefix).map((k) => this.entries.get(k) as KvEntry);
  }

  all(): KvEntry[] {
    return this.list('');
  }

  get size(): number {
    return this.entries.size;
  }

  private index(): string[] {
    if (this.dirty) {
      this.sorted = [...this.entries.keys()].sort();
      this.dirty = false;
    }
    return this.sorted;
  }

  private lowerBound(sorted: readonly string[], key: string): number {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((sorted[mid] as string) < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
