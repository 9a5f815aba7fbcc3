import type { Logger } from 'pino';
import type { KvStore, KvWatch } from '../../kvstore/kvstore.js';
import { ipToBigInt } from '../core/net.js';
import { tsnetError } from '../core/errors.js';
import { AllocationMap } from './allocation-map.js';
import { poolGeometry, type PoolGeometry } from './pool-geometry.js';
import type { PoolRecord } from './records.js';
import { spaceKeys } from './records.js';

/** One pool's geometry and allocation map, loaded from the store on first use and kept fresh. */
export interface PoolState {
  readonly geometry: PoolGeometry;
  readonly map: AllocationMap;
  /** Stops the watch that keeps a shared (global) pool's map in step with other hosts. */
  close(): Promise<void>;
}

/**
 * Loads a pool's state. For a space other hosts write too, a watch from the revision read keeps
 * the map current, so this host rarely proposes an address another host just took; the
 * compare-and-swap on the address key stays the arbiter either way.
 */
export async function loadPoolState(opts: { store: KvStore; space: string; key: string; hostId: string; shared: boolean; log: Logger; onStale: () => void }): Promise<PoolState> {
  const keys = spaceKeys(opts.space);
  const revision = opts.shared ? await opts.store.revision() : 0;
  const entry = await opts.store.get(keys.pool(opts.key));
  if (!entry) {
    throw tsnetError('TSNET_IPAM_POOL_UNKNOWN', `pool ${opts.key.replace('_', '/')} is not known in address space ${opts.space}`, 'it was released or never requested; remove and re-create the network');
  }
  const record = JSON.parse(entry.value) as PoolRecord;
  const geometry = poolGeometry(record.pool, record.subPool);
  const [addresses, cursor] = await Promise.all([opts.store.list(keys.addrs(opts.key)), opts.store.get(keys.cursor(opts.key, opts.hostId))]);
  const map = new AllocationMap(geometry, cursor ? BigInt(cursor.value) : undefined);
  const prefixLength = keys.addrs(opts.key).length;
  for (const a of addresses) map.mark(ipToBigInt(a.key.slice(prefixLength)));
  let watch: KvWatch | undefined;
  if (opts.shared) {
    watch = await opts.store.watch(keys.addrs(opts.key), {
      onEvents: (events) => {
        for (const e of events) {
          if (e.type === 'put') map.mark(ipToBigInt(e.entry.key.slice(prefixLength)));
          else map.unmark(ipToBigInt(e.key.slice(prefixLength)));
        }
      },
      onResync: (reason) => {
        opts.log.warn({ pool: record.pool, reason }, 'pool watch lost; reloading on next use');
        opts.onStale();
      },
    }, { fromRevision: revision });
  }
  return { geometry, map, close: async () => { await watch?.cancel(); } };
}
