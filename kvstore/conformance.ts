import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { KvEvent, KvStore } from './kvstore.js';

export interface KvContractSetup {
  readonly store: KvStore;
  readonly cleanup: () => Promise<void>;
}

/**
 * The KvStore contract as a vitest suite, written once and run against every backend
 * (libp2p's interface-compliance pattern). Uses only the interface.
 */
export function kvStoreContract(name: string, open: () => Promise<KvContractSetup>): void {
  describe(`KvStore contract: ${name}`, () => {
    let setup: KvContractSetup;
    let store: KvStore;
    beforeEach(async () => {
      setup = await open();
      store = setup.store;
    });
    afterEach(async () => {
      await setup.cleanup();
    });

    test('put, get, delete; revisions increase once per write', async () => {
      const r0 = await store.revision();
      const r1 = await store.put('a/1', 'one');
      expect(r1).toBeGreaterThan(r0);
      expect(await store.get('a/1')).toMatchObject({ key: 'a/1', value: 'one', createRevision: r1, modRevision: r1 });
      const r2 = await store.put('a/1', 'uno');
      expect(await store.get('a/1')).toMatchObject({ value: 'uno', createRevision: r1, modRevision: r2 });
      expect(await store.delete('a/1')).toBe(true);
      expect(await store.delete('a/1')).toBe(false);
      expect(await store.get('a/1')).toBeUndefined();
    });

    test('list by prefix is sorted and exact', async () => {
      for (const key of ['p/b', 'p/a', 'p/c/d', 'q/a', 'pp']) await store.put(key, key);
      expect((await store.list('p/')).map((e) => e.key)).toEqual(['p/a', 'p/b', 'p/c/d']);
      expect(await store.list('none/')).toEqual([]);
    });

    test('txn: every compare kind, success and failure branches, atomic multi-key writes', async () => {
      const r = await store.put('t/x', '1');
      const ok = await store.txn(
        [{ key: 't/x', kind: 'value', value: '1' }, { key: 't/x', kind: 'mod-revision', revision: r }, { key: 't/x', kind: 'present' }, { key: 't/y', kind: 'absent' }],
        [{ type: 'put', key: 't/x', value: '2' }, { type: 'put', key: 't/y', value: 'new' }],
      );
      expect(ok.succeeded).toBe(true);
      expect((await store.get('t/x'))?.modRevision).toBe((await store.get('t/y'))?.modRevision);
      const failed = await store.txn([{ key: 't/y', kind: 'absent' }], [{ type: 'put', key: 't/z', value: 'no' }], [{ type: 'put', key: 't/else', value: 'yes' }]);
      expect(failed.succeeded).toBe(false);
      expect(await store.get('t/z')).toBeUndefined();
      expect((await store.get('t/else'))?.value).toBe('yes');
      const before = await store.revision();
      const noop = await store.txn([{ key: 't/x', kind: 'value', value: 'nope' }], [{ type: 'delete', key: 't/x' }]);
      expect(noop).toEqual({ succeeded: false, revision: before });
      await store.txn([], [{ type: 'delete-prefix', prefix: 't/' }]);
      expect(await store.list('t/')).toEqual([]);
    });

    test('concurrent compare-and-swap increments lose no update', async () => {
      await store.put('counter', '0');
      const increment = async () => {
        for (;;) {
          const cur = await store.get('counter');
          const next = String(Number(cur?.value) + 1);
          const { succeeded } = await store.txn([{ key: 'counter', kind: 'mod-revision', revision: cur?.modRevision ?? 0 }], [{ type: 'put', key: 'counter', value: next }]);
          if (succeeded) return;
        }
      };
      await Promise.all(Array.from({ length: 200 }, increment));
      expect((await store.get('counter'))?.value).toBe('200');
    });

    test('watch delivers each transaction once, in order, filtered by prefix; cancel stops it', async () => {
      const seen: Array<{ revision: number; events: readonly KvEvent[] }> = [];
      const watch = await store.watch('w/', { onEvents: (events, revision) => seen.push({ revision, events }) });
      await store.txn([], [{ type: 'put', key: 'w/a', value: '1' }, { type: 'put', key: 'w/b', value: '2' }, { type: 'put', key: 'other', value: 'x' }]);
      await store.delete('w/a');
      await waitUntil(() => seen.length === 2);
      expect(seen[0]?.events.map((e) => e.type === 'put' ? e.entry.key : e.key)).toEqual(['w/a', 'w/b']);
      expect(seen[1]?.events).toEqual([{ type: 'delete', key: 'w/a', modRevision: seen[1]?.revision }]);
      expect(seen[0]!.revision).toBeLessThan(seen[1]!.revision);
      await watch.cancel();
      await store.put('w/c', '3');
      await new Promise((r) => setTimeout(r, 100));
      expect(seen).toHaveLength(2);
    });

    test('watch from a revision replays what happened after it', async () => {
      const start = await store.put('h/1', 'a');
      await store.put('h/2', 'b');
      await store.put('h/3', 'c');
      const keys: string[] = [];
      const watch = await store.watch('h/', { onEvents: (events) => events.forEach((e) => e.type === 'put' && keys.push(e.entry.key)) }, { fromRevision: start });
      await waitUntil(() => keys.length === 2);
      expect(keys).toEqual(['h/2', 'h/3']);
      await watch.cancel();
    });

    test('leases: revoke deletes attached keys and watchers see it; a dead lease cannot be used', async () => {
      const lease = await store.grantLease(30);
      await store.put('l/a', '1', { lease: lease.id });
      await store.put('l/b', '2');
      const deleted: string[] = [];
      const watch = await store.watch('l/', { onEvents: (events) => events.forEach((e) => e.type === 'delete' && deleted.push(e.key)) });
      await lease.revoke();
      await waitUntil(() => deleted.length === 1);
      expect(deleted).toEqual(['l/a']);
      expect(await store.get('l/b')).toBeDefined();
      await expect(store.put('l/c', '3', { lease: lease.id })).rejects.toThrow();
      await watch.cancel();
    });

    test('leases: a released lease expires after its TTL', async () => {
      const lease = await store.grantLease(1);
      await store.put('e/a', '1', { lease: lease.id });
      await lease.release();
      await waitUntil(async () => (await store.get('e/a')) === undefined, 10_000);
    }, 15_000);

    test('bad keys are refused', async () => {
      await expect(store.put('', 'x')).rejects.toThrow(/key/);
      await expect(store.get('a\0b')).rejects.toThrow(/key/);
    });
  });
}

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
