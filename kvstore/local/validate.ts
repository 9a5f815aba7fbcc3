import { TsnetError, tsnetError } from '../../src/core/errors.js';
import type { KvWrite } from '../kvstore.js';
import type { PlainWrite, StoreImage } from './image.js';

const MAX_KEY = 4096;
/** etcd's longest lease (about 285 years); more is surely a unit mistake. */
const MAX_TTL = 9_000_000_000;

/** Keys are non-empty strings without NUL (etcd allows NUL, but tsnet's key paths never hold one). */
export function checkKey(key: unknown): string {
  if (typeof key !== 'string' || key.length === 0 || key.includes('\0') || key.length > MAX_KEY) {
    throw tsnetError('TSNET_KV_KEY', `store key ${JSON.stringify(String(key).slice(0, 64))} is not a non-empty string without NUL of at most ${MAX_KEY} characters`);
  }
  return key;
}

/** A prefix may be empty (everything) but is otherwise held to the rules for keys. */
export function checkPrefix(prefix: unknown): string {
  if (prefix === '') return prefix;
  return checkKey(prefix);
}

export function checkTtl(ttlSeconds: unknown): void {
  if (typeof ttlSeconds !== 'number' || !Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_TTL) {
    throw tsnetError('TSNET_KV_LEASE', `lease TTL ${String(ttlSeconds)} is not a whole number of seconds between 1 and ${MAX_TTL}`);
  }
}

/**
 * Checks one branch of a transaction before anything is applied: keys, values, and that no key
 * is written twice (a put next to another put or a delete of the same key, or under a deleted
 * prefix), which etcd refuses as "duplicate key given in txn request". Both branches are checked
 * whichever runs, as etcd does, so a bad request fails the same way every time.
 */
export function validateWrites(writes: readonly KvWrite[]): void {
  const puts = new Set<string>();
  const deletes = new Set<string>();
  const prefixes: string[] = [];
  for (const w of writes) {
    if (w.type === 'delete-prefix') prefixes.push(checkPrefix(w.prefix));
    else if (w.type === 'delete') deletes.add(checkKey(w.key));
    else {
      checkKey(w.key);
      if (typeof w.value !== 'string') throw tsnetError('TSNET_KV_VALUE', `value for store key ${w.key} is not a string`);
      if (puts.has(w.key)) throw duplicate(w.key);
      puts.add(w.key);
    }
  }
  for (const key of puts) if (deletes.has(key) || prefixes.some((p) => key.startsWith(p))) throw duplicate(key);
}

/**
 * Resolves delete-prefix into deletes of the keys present now, drops repeated deletes, and
 * checks that every lease named still exists. Runs synchronously right before the apply.
 */
export function expandWrites(writes: readonly KvWrite[], image: StoreImage): PlainWrite[] {
  const out: PlainWrite[] = [];
  const deleted = new Set<string>();
  const addDelete = (key: string) => {
    if (!deleted.has(key)) out.push({ type: 'delete', key });
    deleted.add(key);
  };
  for (const w of writes) {
    if (w.type === 'delete-prefix') image.state.keysWithPrefix(w.prefix).forEach(addDelete);
    else if (w.type === 'delete') addDelete(w.key);
    else {
      if (w.lease !== undefined && !image.leases.has(w.lease)) {
        throw new TsnetError('TSNET_KV_LEASE_GONE', `lease ${w.lease} for store key ${w.key} does not exist (it expired or was revoked)`, 'grant a new lease and write the key again');
      }
      out.push(w);
    }
  }
  return out;
}

function duplicate(key: string): TsnetError {
  return tsnetError('TSNET_KV_TXN', `store key ${key} is written more than once in one transaction`, 'write each key once per transaction');
}
