import type { KvEntry } from '../kvstore.js';

/** Index changes buffered before they are merged into the sorted key array. */
const MERGE_THRESHOLD = 1024;

/**
 * The in-memory image of the store's keys: entries by key, plus a sorted key index for
 * `list(prefix)`. The index is a sorted array with binary search, kept cheap to update the way an
 * LSM tree is: new keys go to a small unsorted buffer and deleted ones to a tombstone set, and
 * both are merged into the array (O(n)) only every MERGE_THRESHOLD changes. A write is then
 * O(1) amortised for any realistic size, and a list costs O(log n + matches + buffer).
 *
 * Keys sort by UTF-16 code unit (JavaScript `<`), which equals etcd's byte order for every key
 * without characters beyond U+FFFF next to U+E000–U+FFFF; tsnet's keys are ASCII.
 */
export class KvState {
  private readonly entries = new Map<string, KvEntry>();
  /** Sorted keys as of the last merge; keys deleted since are listed in `tombstones`. */
  private sorted: string[] = [];
  /** Keys created since the last merge, not in `sorted`. */
  private readonly added = new Set<string>();
  private readonly tombstones = new Set<string>();

  get(key: string): KvEntry | undefined {
    return this.entries.get(key);
  }

  set(entry: KvEntry): void {
    if (!this.entries.has(entry.key)) {
      if (!this.tombstones.delete(entry.key)) this.added.add(entry.key);
      this.maybeMerge();
    }
    this.entries.set(entry.key, entry);
  }

  /** Returns the entry that was removed, if any. */
  delete(key: string): KvEntry | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (!this.added.delete(key)) this.tombstones.add(key);
    this.maybeMerge();
    return entry;
  }

  keysWithPrefix(prefix: string): string[] {
    const out: string[] = [];
    for (let i = lowerBound(this.sorted, prefix); i < this.sorted.length; i++) {
      const key = this.sorted[i] as string;
      if (!key.startsWith(prefix)) break;
      if (!this.tombstones.has(key)) out.push(key);
    }
    if (this.added.size === 0) return out;
    const fresh: string[] = [];
    for (const key of this.added) if (key.startsWith(prefix)) fresh.push(key);
    return fresh.length === 0 ? out : mergeSorted(out, fresh.sort());
  }

  list(prefix: string): KvEntry[] {
    return this.keysWithPrefix(prefix).map((k) => this.entries.get(k) as KvEntry);
  }

  /** Every entry, in no particular order (for snapshots). */
  values(): IterableIterator<KvEntry> {
    return this.entries.values();
  }

  get size(): number {
    return this.entries.size;
  }

  private maybeMerge(): void {
    if (this.added.size + this.tombstones.size < MERGE_THRESHOLD) return;
    const live = this.tombstones.size > 0 ? this.sorted.filter((k) => !this.tombstones.has(k)) : this.sorted;
    this.sorted = mergeSorted(live, [...this.added].sort());
    this.added.clear();
    this.tombstones.clear();
  }
}

function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function mergeSorted(a: readonly string[], b: readonly string[]): string[] {
  const out = new Array<string>(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) out[k++] = (a[i] as string) < (b[j] as string) ? (a[i++] as string) : (b[j++] as string);
  while (i < a.length) out[k++] = a[i++] as string;
  while (j < b.length) out[k++] = b[j++] as string;
  return out;
}
