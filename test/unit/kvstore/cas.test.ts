import { describe, expect, test } from 'vitest';
import { CAS_ATTEMPTS, RETRY, casRetry } from '../../../kvstore/cas.js';
import { MemoryKvStore } from '../cnm/memory-kv.js';

describe('casRetry', () => {
  test('returns the first answer that is not RETRY, after as many attempts as it took', async () => {
    const seen: number[] = [];
    const result = await casRetry(async (n) => { seen.push(n); return n < 3 ? RETRY : 'done'; }, () => new Error('exhausted'));
    expect(result).toBe('done');
    expect(seen).toEqual([0, 1, 2, 3]);
  });

  test('gives up after CAS_ATTEMPTS with the caller\'s error', async () => {
    let attempts = 0;
    await expect(casRetry(async () => { attempts++; return RETRY; }, () => new Error('too busy'))).rejects.toThrow('too busy');
    expect(attempts).toBe(CAS_ATTEMPTS);
  });

  test('an attempt that throws ends the loop with its error: a refusal is not a conflict', async () => {
    let attempts = 0;
    await expect(casRetry(async () => { attempts++; throw new Error('refused'); }, () => new Error('exhausted'))).rejects.toThrow('refused');
    expect(attempts).toBe(1);
  });

  test('undefined (a void attempt that succeeded) is an answer', async () => {
    await expect(casRetry(async () => undefined, () => new Error('exhausted'))).resolves.toBeUndefined();
  });

  test('32 concurrent read-modify-write increments of one key through a store: none is lost', async () => {
    const store = new MemoryKvStore();
    await store.put('counter', '0');
    const increment = () => casRetry(async () => {
      const entry = await store.get('counter');
      const next = String(Number(entry?.value ?? '0') + 1);
      const compare = entry ? { key: 'counter', kind: 'mod-revision' as const, revision: entry.modRevision } : { key: 'counter', kind: 'absent' as const };
      return (await store.txn([compare], [{ type: 'put', key: 'counter', value: next }])).succeeded ? next : RETRY;
    }, () => new Error('exhausted'));
    const results = await Promise.all(Array.from({ length: 32 }, increment));
    expect((await store.get('counter'))?.value).toBe('32');
    expect(new Set(results).size).toBe(32);
  });
});
