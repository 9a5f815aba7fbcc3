import type { KvLease, LeaseId } from '../kvstore.js';
import type { LeaseTable } from './leases.js';

/** What a lease handle may do to its store. */
export interface LeaseControl {
  readonly table: LeaseTable;
  /** Ends the lease now, deleting its keys in one logged transaction. */
  revoke(): Promise<void>;
  /** Ends the lease because its TTL ran out, then fires its onLost listeners. */
  expire(reason: string): Promise<void>;
}

/**
 * The holder's handle on a lease of the embedded store. The holder is this very process, so
 * the lease is "kept alive" simply by nobody expiring it: it lives while the store is open until
 * revoke() (keys deleted now) or release() (keys deleted after the TTL, and onLost fires then).
 * Nothing can take it away behind the holder's back while the process lives; after a restart
 * the handle is gone with the process and the store expires the lease (see FileKvStore).
 */
export function createLeaseHandle(id: LeaseId, ttlSeconds: number, control: LeaseControl): KvLease {
  let revokedHere = false;
  return {
    id,
    ttlSeconds,
    onLost(listener) {
      const lease = control.table.get(id);
      if (lease) lease.lostListeners.push(listener);
      else if (!revokedHere) queueMicrotask(() => callSafely(listener, `lease ${id} no longer exists`));
    },
    async revoke() {
      revokedHere = true;
      await control.revoke();
    },
    async release() {
      const lease = control.table.get(id);
      if (!lease || lease.timer) return;
      control.table.schedule(id, ttlSeconds * 1000, () => void control.expire(`lease ${id} expired ${ttlSeconds} s after it was released`));
    },
  };
}

function callSafely(listener: (reason: string) => void, reason: string): void {
  try {
    listener(reason);
  } catch {
    // A holder's bug must not surface as an uncaught exception inside the store.
  }
}
