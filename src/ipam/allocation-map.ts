import type { PoolGeometry } from './pool-geometry.js';

/**
 * Which addresses of one pool are taken, and where automatic allocation continues. Allocation
 * is serial (next-fit from a cursor, wrapping round), so an address that was just freed is the
 * last to be handed out again: a stale ARP entry or a lingering connection never meets a new
 * container on the old address. Addresses are bigints so IPv4 and IPv6 pools share this code.
 */
export class AllocationMap {
  private readonly taken = new Set<bigint>();
  /** How many taken addresses fall in the automatic range (so "full" is O(1)). */
  private autoTaken = 0;
  private cursor: bigint;

  constructor(private readonly geometry: PoolGeometry, cursor?: bigint) {
    this.cursor = cursor !== undefined && cursor >= geometry.autoFirst - 1n && cursor <= geometry.autoLast ? cursor : geometry.autoFirst - 1n;
  }

  has(value: bigint): boolean {
    return this.taken.has(value);
  }

  mark(value: bigint): void {
    if (this.taken.has(value)) return;
    this.taken.add(value);
    if (this.inAutoRange(value)) this.autoTaken++;
  }

  unmark(value: bigint): void {
    if (!this.taken.delete(value)) return;
    if (this.inAutoRange(value)) this.autoTaken--;
  }

  get size(): number {
    return this.taken.size;
  }

  get position(): bigint {
    return this.cursor;
  }

  /**
   * The next free address after the cursor in the automatic range, or undefined when the range
   * is full. Does not mark it: the caller marks it once the store has accepted the allocation.
   */
  nextFree(): bigint | undefined {
    const { autoFirst, autoLast } = this.geometry;
    const span = autoLast - autoFirst + 1n;
    if (BigInt(this.autoTaken) >= span) return undefined;
    let candidate = this.cursor;
    for (let scanned = 0n; scanned < span; scanned++) {
      candidate = candidate >= autoLast ? autoFirst : candidate + 1n;
      if (!this.taken.has(candidate)) return candidate;
    }
    return undefined;
  }

  advanceTo(value: bigint): void {
    if (value >= this.geometry.autoFirst && value <= this.geometry.autoLast) this.cursor = value;
  }

  private inAutoRange(value: bigint): boolean {
    return value >= this.geometry.autoFirst && value <= this.geometry.autoLast;
  }
}
