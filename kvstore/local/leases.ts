import type { KvLease, LeaseId } from '../kvstore.js';

interface LeaseState {
  readonly ttlSeconds: number;
  readonly keys: Set<string>;
  timer?: NodeJS.Timeout;
}

/**
 * Leases of the embedded store. The holder is this very process, so a lease stays alive for as
 * long as the store is open and nobody releases it; after `release()` it expires after its TTL,
 * and `revoke()` ends it at once. Either way its keys are deleted in one transaction.
 */
export class LocalLeases {
  private readonly leases = new Map<LeaseId, LeaseState>();

  constructor(private readonly expire: (id: LeaseId) => Promise<void>) {}

  grant(id: LeaseId, ttlSeconds: number): KvLease {
    this.leases.set(id, { ttlSeconds, keys: new Set() });
    return {
      id,
      ttlSeconds,
      // The holder is in-process, so nothing can take the lease away behind its back.
      onLost: () => undefined,
      revoke: async () => {
        if (this.leases.has(id)) await this.expire(id);
      },
      release: async () => {
        const lease = this.leases.get(id);
        if (!lease || lease.timer) return;
        lease.timer = setTimeout(() => void this.expire(id), ttlSeconds * 1000);
        lease.timer.unref();
      },
    };
  }

  has(id: LeaseId): boolean {
    return this.leases.has(id);
  }

  /** Moves `key` from one lease's key set to another's as a write changes its lease. */
  track(from: LeaseId | undefined, to: LeaseId | undefined, key: string): void {
    if (from) this.leases.get(from)?.keys.delete(key);
    if (to) this.leases.get(to)?.keys.add(key);
  }

  keysOf(id: LeaseId): string[] {
    return [...(this.leases.get(id)?.keys ?? [])];
  }

  forget(id: LeaseId): void {
    const lease = this.leases.get(id);
    if (lease?.timer) clearTimeout(lease.timer);
    this.leases.delete(id);
  }

  stopAll(): void {
    for (const id of [...this.leases.keys()]) this.forget(id);
  }
}
