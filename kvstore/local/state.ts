import type { KvEntry } from '../kvstore.js';

/**
 * The in-memory image of the store: entries by key plus a sorted key index, so `list(prefix)`
 * is a binary search and a slice rather than a scan of every key.
 */
export class KvState {
  private readonly entries = new Map<string, KvEntry>();
  private readonly sorted: string[] = [];

  get(key: string): KvEntry | undefined {
    return this.entries.get(key);
  }

  set(entry: KvEntry): void {
    if (!this.entries.has(entry.key)) this.sorted.splice(this.lowerBound(entry.key), 0, entry.key);
    this.entries.set(entry.key, entry);
  }

  delete(key: string): void {
    if (!this.entries.delete(key)) return;
    this.sorted.splice(this.lowerBound(key), 1);
  }

  keysWithPrefix(prefix: string): string[] {
    const start = this.lowerBound(prefix);
    let end = start;
    while (end < this.sorted.length && (this.sorted[end] as string).startsWith(prefix)) end++;
    return this.sorted.slice(start, end);
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

  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.sorted[mid] as string) < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
