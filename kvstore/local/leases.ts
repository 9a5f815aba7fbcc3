import type { LeaseId } from '../kvstore.js';

/** One live lease of the embedded store. */
export interface LeaseState {
  readonly ttlSeconds: number;
  /** Keys currently attached to the lease (kept in step with the entries by `track`). */
  readonly keys: Set<string>;
  /** Pending expiry: set after release(), and for leases inherited from a previous run. */
  timer?: NodeJS.Timeout;
  /** onLost listeners, fired once when the lease ends other than by its holder's revoke(). */
  readonly lostListeners: Array<(reason: string) => void>;
}

/**
 * The lease table: which leases exist, their TTLs and attached keys, and expiry timers. It
 * holds no policy; FileKvStore decides when a lease ends and makes that durable. Timers are
 * unref'd so a pending expiry never keeps the daemon alive.
 */
export class LeaseTable {
  private readonly leases = new Map<LeaseId, LeaseState>();

  add(id: LeaseId, ttlSeconds: number): void {
    if (!this.leases.has(id)) this.leases.set(id, { ttlSeconds, keys: new Set(), lostListeners: [] });
  }

  get(id: LeaseId): LeaseState | undefined {
    return this.leases.get(id);
  }

  has(id: LeaseId): boolean {
    return this.leases.has(id);
  }

  /** Removes a lease (its timer too) and returns its state, so a failed write can restore it. */
  take(id: LeaseId): LeaseState | undefined {
    const lease = this.leases.get(id);
    if (!lease) return undefined;
    clearTimeout(lease.timer);
    lease.timer = undefined;
    this.leases.delete(id);
    return lease;
  }

  restore(id: LeaseId, lease: LeaseState): void {
    this.leases.set(id, lease);
  }

  /** Moves `key` from one lease's key set to another's as a write changes its lease. */
  track(from: LeaseId | undefined, to: LeaseId | undefined, key: string): void {
    if (from !== undefined) this.leases.get(from)?.keys.delete(key);
    if (to !== undefined) this.leases.get(to)?.keys.add(key);
  }

  /** Arms (or re-arms) the expiry timer of a lease. */
  schedule(id: LeaseId, delayMs: number, fire: () => void): void {
    const lease = this.leases.get(id);
    if (!lease) return;
    clearTimeout(lease.timer);
    lease.timer = setTimeout(fire, delayMs);
    lease.timer.unref();
  }

  /** Every lease as [id, ttlSeconds], for snapshots. */
  ttls(): Array<[LeaseId, number]> {
    return [...this.leases].map(([id, lease]) => [id, lease.ttlSeconds]);
  }

  ids(): LeaseId[] {
    return [...this.leases.keys()];
  }

  stopTimers(): void {
    for (const lease of this.leases.values()) {
      clearTimeout(lease.timer);
      lease.timer = undefined;
    }
  }
}
