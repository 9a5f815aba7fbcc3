import type { KvStore } from '../../kvstore/kvstore.js';
import { tsnetError } from '../core/errors.js';
import { GLOBAL_SPACE } from './ipam-service.js';
import { hostKey, spaceKeys, type AddressRecord, type GatewayRecord, type PoolRecord } from './records.js';

export interface ReleaseReport {
  readonly addresses: number;
  readonly poolReferences: number;
  readonly poolsRemoved: number;
}

/**
 * Frees everything a host that is gone for good held in the global space: its addresses, its
 * pool references (pools nobody references any more are removed) and its cursors. Refuses while
 * the host is alive in etcd. Each record is removed with a compare on its value, so a record
 * that changed meanwhile is left alone.
 */
export async function releaseHost(store: KvStore, hostId: string): Promise<ReleaseReport> {
  const alive = await store.get(hostKey(hostId));
  if (alive) {
    throw tsnetError('TSNET_HOST_ALIVE', `host ${hostId} is alive in etcd (registered ${(JSON.parse(alive.value) as { since?: string }).since ?? 'at an unknown time'})`, 'stop tsnet on that host first; its lease runs out 10 s later (a stopping daemon does not revoke it, so that a restart withdraws nothing)');
  }
  const keys = spaceKeys(GLOBAL_SPACE);
  const base = keys.pools.replace(/pools\/$/, '');
  let addresses = 0;
  for (const entry of await store.list(`${base}addr/`)) {
    if ((JSON.parse(entry.value) as AddressRecord).host !== hostId) continue;
    const { succeeded } = await store.txn([{ key: entry.key, kind: 'mod-revision', revision: entry.modRevision }], [{ type: 'delete', key: entry.key }]);
    if (succeeded) addresses++;
  }
  for (const entry of await store.list(`${base}cursor/`)) {
    if (entry.key.endsWith(`/${hostId}`)) await store.txn([{ key: entry.key, kind: 'mod-revision', revision: entry.modRevision }], [{ type: 'delete', key: entry.key }]);
  }
  for (const entry of await store.list(`${base}gw/`)) {
    const record = JSON.parse(entry.value) as GatewayRecord;
    if (!record.hosts.includes(hostId)) continue;
    const hosts = record.hosts.filter((h) => h !== hostId);
    const poolId = entry.key.slice(`${base}gw/`.length);
    const writes = hosts.length > 0
      ? [{ type: 'put' as const, key: entry.key, value: JSON.stringify({ ...record, hosts }) }]
      : [{ type: 'delete' as const, key: entry.key }, { type: 'delete' as const, key: keys.addr(poolId, record.ip) }];
    await store.txn([{ key: entry.key, kind: 'mod-revision', revision: entry.modRevision }], writes);
  }
  let poolReferences = 0;
  let poolsRemoved = 0;
  for (const entry of await store.list(keys.pools)) {
    const record = JSON.parse(entry.value) as PoolRecord;
    const count = record.refs[hostId];
    if (!count) continue;
    const refs = { ...record.refs };
    delete refs[hostId];
    const poolId = entry.key.slice(keys.pools.length);
    const last = Object.keys(refs).length === 0;
    const writes = last
      ? [{ type: 'delete' as const, key: entry.key }, { type: 'delete-prefix' as const, prefix: keys.addrs(poolId) }, { type: 'delete-prefix' as const, prefix: keys.cursors(poolId) }]
      : [{ type: 'put' as const, key: entry.key, value: JSON.stringify({ ...record, refs }) }];
    const { succeeded } = await store.txn([{ key: entry.key, kind: 'mod-revision', revision: entry.modRevision }], writes);
    if (succeeded) {
      poolReferences += count;
      if (last) poolsRemoved++;
    }
  }
  return { addresses, poolReferences, poolsRemoved };
}
