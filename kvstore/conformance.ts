import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import type { KvCompare, KvEvent, KvStore } from './kvstore.js';

export interface KvContractSetup {
  readonly store: KvStore;
  /** Closes the store and removes whatever it left behind. */
  readonly cleanup: () => Promise<void>;
}

/**
 * The KvStore contract as a vitest suite, written once and run against every backend
 * (libp2p's interface-compliance pattern). Call it at the top level of a test file; `open` is
 * called before every test and must return an empty store that nothing else writes to while
 * the test runs (revisions are checked to move by exactly one per transaction, but their
 * absolute values are never assumed). Uses only the KvStore interface.
 */
export function kvStoreContract(name: string, open: () => Promise<KvContractSetup>): void {
  describe(`KvStore contract: ${name}`, () => {
    let setup: KvContractSetup;
    const current = () => setup.store;
    beforeEach(async () => {
      setup = await open();
    });
    afterEach(async () => {
      await setup.cleanup();
    });

    describe('keys and values', () => keysAndValues(current));
    describe('transactions', () => transactions(current));
    describe('watches', () => watches(current));
    describe('leases', () => leases(current));
  });
}

function keysAndValues(current: () => KvStore): void {
  let store: KvStore;
  beforeEach(() => {
    store = current();
  });

  test('put, get, delete; the revision moves once per write', async () => {
    const r0 = await store.revision();
    const r1 = await store.put('a/1', 'one');
    expect(r1).toBeGreaterThan(r0);
    expect(await store.revision()).toBe(r1);
    expect(await store.get('a/1')).toEqual({ key: 'a/1', value: 'one', createRevision: r1, modRevision: r1 });
    const r2 = await store.put('a/1', 'uno');
    expect(r2).toBe(r1 + 1);
    expect(await store.get('a/1')).toMatchObject({ value: 'uno', createRevision: r1, modRevision: r2 });
    expect(await store.delete('a/1')).toBe(true);
    expect(await store.revision()).toBe(r2 + 1);
    expect(await store.get('a/1')).toBeUndefined();
    const r4 = await store.put('a/1', 'again');
    expect(await store.get('a/1')).toMatchObject({ createRevision: r4, modRevision: r4 });
  });

  test('writes that change nothing leave the revision alone', async () => {
    const r = await store.put('n/x', '1');
    expect(await store.delete('n/missing')).toBe(false);
    expect(await store.txn([], [{ type: 'delete-prefix', prefix: 'n/none/' }])).toEqual({ succeeded: true, revision: r });
    expect(await store.txn([{ key: 'n/x', kind: 'value', value: 'other' }], [{ type: 'put', key: 'n/x', value: '2' }])).toEqual({ succeeded: false, revision: r });
    expect(await store.revision()).toBe(r);
  });

  test('list returns exactly the keys under a prefix, sorted, after updates and deletes', async () => {
    for (const key of ['p/b', 'p/a', 'p/c/d', 'q/a', 'pp', 'p/a0', 'p/']) await store.put(key, `v-${key}`);
    await store.delete('p/a0');
    await store.put('p/b', 'updated');
    const listed = await store.list('p/');
    expect(listed.map((e) => e.key)).toEqual(['p/', 'p/a', 'p/b', 'p/c/d']);
    expect(listed.find((e) => e.key === 'p/b')?.value).toBe('updated');
    expect((await store.list('p/a')).map((e) => e.key)).toEqual(['p/a']);
    expect((await store.list('')).map((e) => e.key)).toEqual(['p/', 'p/a', 'p/b', 'p/c/d', 'pp', 'q/a']);
    expect(await store.list('none/')).toEqual([]);
  });

  test('values are stored verbatim', async () => {
    const values = ['', ' spaced ', 'ünïcødé ✓ 🚀', JSON.stringify({ a: [1, 2], b: 'x\ny' }), 'x'.repeat(100_000)];
    await Promise.all(values.map((v, i) => store.put(`v/${i}`, v)));
    expect((await store.list('v/')).map((e) => e.value)).toEqual(values);
  });

  test('bad keys are refused as invalid, and nothing is written', async () => {
    const r = await store.revision();
    await expect(store.put('', 'x')).rejects.toMatchObject({ kind: 'invalid' });
    await expect(store.get('a\0b')).rejects.toMatchObject({ kind: 'invalid' });
    await expect(store.delete('')).rejects.toMatchObject({ kind: 'invalid' });
    await expect(store.txn([{ key: '', kind: 'absent' }], [])).rejects.toMatchObject({ kind: 'invalid' });
    await expect(store.txn([], [{ type: 'put', key: 'ok', value: '1' }, { type: 'put', key: 'bad\0', value: '2' }])).rejects.toMatchObject({ kind: 'invalid' });
    expect(await store.get('ok')).toBeUndefined();
    expect(await store.revision()).toBe(r);
  });
}

function transactions(current: () => KvStore): void {
  let store: KvStore;
  beforeEach(() => {
    store = current();
  });

  test('every compare kind, when it holds and when it does not', async () => {
    const r = await store.put('c/x', 'one');
    const cases: Array<[KvCompare, boolean]> = [
      [{ key: 'c/x', kind: 'present' }, true], [{ key: 'c/none', kind: 'present' }, false],
      [{ key: 'c/none', kind: 'absent' }, true], [{ key: 'c/x', kind: 'absent' }, false],
      [{ key: 'c/x', kind: 'mod-revision', revision: r }, true], [{ key: 'c/x', kind: 'mod-revision', revision: r - 1 }, false],
      [{ key: 'c/none', kind: 'mod-revision', revision: 0 }, true], [{ key: 'c/x', kind: 'mod-revision', revision: 0 }, false],
      [{ key: 'c/x', kind: 'value', value: 'one' }, true], [{ key: 'c/x', kind: 'value', value: 'two' }, false],
      [{ key: 'c/none', kind: 'value', value: '' }, false],
    ];
    for (const [compare, holds] of cases) {
      const result = await store.txn([compare], [], [{ type: 'put', key: 'c/else', value: JSON.stringify(compare) }]);
      expect(result.succeeded, JSON.stringify(compare)).toBe(holds);
    }
  });

  test('multi-key compare-and-swap: all writes at one revision, or only the onFailure writes', async () => {
    const ra = await store.put('m/a', '1');
    const rb = await store.put('m/b', '1');
    const ok = await store.txn(
      [{ key: 'm/a', kind: 'mod-revision', revision: ra }, { key: 'm/b', kind: 'mod-revision', revision: rb }, { key: 'm/c', kind: 'absent' }],
      [{ type: 'put', key: 'm/a', value: '2' }, { type: 'put', key: 'm/b', value: '2' }, { type: 'put', key: 'm/c', value: '2' }, { type: 'delete', key: 'm/none' }],
      [{ type: 'put', key: 'm/failed', value: 'x' }],
    );
    expect(ok).toEqual({ succeeded: true, revision: rb + 1 });
    expect((await store.list('m/')).map((e) => [e.key, e.value, e.modRevision])).toEqual([['m/a', '2', ok.revision], ['m/b', '2', ok.revision], ['m/c', '2', ok.revision]]);
    // One stale compare among several fails the whole transaction.
    const stale = await store.txn(
      [{ key: 'm/a', kind: 'mod-revision', revision: ok.revision }, { key: 'm/b', kind: 'mod-revision', revision: rb }],
      [{ type: 'put', key: 'm/a', value: '3' }, { type: 'delete', key: 'm/c' }],
      [{ type: 'put', key: 'm/failed', value: 'x' }, { type: 'delete', key: 'm/b' }],
    );
    expect(stale).toEqual({ succeeded: false, revision: ok.revision + 1 });
    expect((await store.list('m/')).map((e) => [e.key, e.value])).toEqual([['m/a', '2'], ['m/c', '2'], ['m/failed', 'x']]);
  });

  test('delete-prefix removes exactly the keys under the prefix, in one revision', async () => {
    for (const key of ['d/a', 'd/b/c', 'd2', 'e/a']) await store.put(key, '1');
    const { revision } = await store.txn([], [{ type: 'delete-prefix', prefix: 'd/' }, { type: 'put', key: 'e/b', value: '2' }]);
    expect((await store.list('')).map((e) => e.key)).toEqual(['d2', 'e/a', 'e/b']);
    expect((await store.get('e/b'))?.modRevision).toBe(revision);
  });

  test('a transaction that writes one key twice is refused and applies nothing', async () => {
    await expect(store.txn([], [{ type: 'put', key: 'x/a', value: '1' }, { type: 'put', key: 'x/a', value: '2' }])).rejects.toThrow();
    await expect(store.txn([], [{ type: 'put', key: 'x/b', value: '1' }, { type: 'delete', key: 'x/b' }])).rejects.toThrow();
    expect(await store.list('x/')).toEqual([]);
  });

  test('200 concurrent compare-and-swap increments lose no update', async () => {
    await store.put('counter', '0');
    const increment = async () => {
      for (;;) {
        const cur = await store.get('counter');
        const { succeeded } = await store.txn([{ key: 'counter', kind: 'mod-revision', revision: cur?.modRevision ?? 0 }], [{ type: 'put', key: 'counter', value: String(Number(cur?.value) + 1) }]);
        if (succeeded) return;
      }
    };
    await Promise.all(Array.from({ length: 200 }, increment));
    expect((await store.get('counter'))?.value).toBe('200');
  }, 60_000);

  test('concurrent writes get distinct revisions that match what a read shows', async () => {
    const revisions = await Promise.all(Array.from({ length: 50 }, (_, i) => store.put(`k/${String(i).padStart(2, '0')}`, String(i))));
    expect(new Set(revisions).size).toBe(50);
    expect((await store.list('k/')).map((e) => e.modRevision)).toEqual(revisions);
  });
}

function watches(current: () => KvStore): void {
  let store: KvStore;
  beforeEach(() => {
    store = current();
  });

  test('each transaction arrives once, in order, as one call filtered by prefix', async () => {
    const seen: Array<{ revision: number; events: readonly KvEvent[] }> = [];
    const watch = await store.watch('w/', { onEvents: (events, revision) => seen.push({ revision, events }) });
    const r1 = await store.txn([], [{ type: 'put', key: 'w/a', value: '1' }, { type: 'put', key: 'w/b', value: '2' }, { type: 'put', key: 'other', value: 'x' }]);
    await store.put('other', 'y');
    const r2 = await store.txn([], [{ type: 'delete-prefix', prefix: 'w/' }]);
    const many = await Promise.all(Array.from({ length: 30 }, (_, i) => store.put(`w/${i}`, 'v')));
    await waitUntil(() => seen.length === 32);
    expect(seen[0]).toEqual({ revision: r1.revision, events: [
      { type: 'put', entry: { key: 'w/a', value: '1', createRevision: r1.revision, modRevision: r1.revision } },
      { type: 'put', entry: { key: 'w/b', value: '2', createRevision: r1.revision, modRevision: r1.revision } },
    ] });
    expect(seen[1]?.revision).toBe(r2.revision);
    expect(seen[1]?.events.map(describeEvent).sort()).toEqual(['delete w/a', 'delete w/b']);
    expect(seen.slice(2).map((s) => s.revision)).toEqual([...many].sort((a, b) => a - b));
    await watch.cancel();
  });

  test('from a revision: what happened after it is replayed, then live events follow', async () => {
    const start = await store.put('h/1', 'a');
    const r2 = await store.put('h/2', 'b');
    const r3 = await store.txn([], [{ type: 'delete', key: 'h/1' }, { type: 'put', key: 'x/unrelated', value: '' }]);
    const seen: Array<[number, string[]]> = [];
    const watch = await store.watch('h/', { onEvents: (events, revision) => seen.push([revision, events.map(describeEvent)]) }, { fromRevision: start });
    const r4 = await store.put('h/3', 'c');
    await waitUntil(() => seen.length === 3);
    expect(seen).toEqual([[r2, ['put h/2']], [r3.revision, ['delete h/1']], [r4, ['put h/3']]]);
    await watch.cancel();
  });

  test('cancel stops delivery and is idempotent', async () => {
    const seen: number[] = [];
    const watch = await store.watch('c/', { onEvents: (_events, revision) => seen.push(revision) });
    await store.put('c/1', '1');
    await waitUntil(() => seen.length === 1);
    await watch.cancel();
    await watch.cancel();
    await store.put('c/2', '2');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(seen).toHaveLength(1);
  });

  test('a watcher that throws breaks neither the store nor other watchers', async () => {
    let thrown = 0;
    const seen: string[] = [];
    const bad = await store.watch('t/', { onEvents: () => { thrown++; throw new Error('consumer bug'); } });
    const good = await store.watch('t/', { onEvents: (events) => seen.push(...events.map(describeEvent)) });
    await store.put('t/1', '1');
    await store.put('t/2', '2');
    await waitUntil(() => seen.length === 2 && thrown === 2);
    expect(await store.get('t/2')).toMatchObject({ value: '2' });
    await bad.cancel();
    await good.cancel();
  });
}

function leases(current: () => KvStore): void {
  let store: KvStore;
  beforeEach(() => {
    store = current();
  });

  test('revoke deletes the attached keys in a transaction watchers see; a dead lease cannot be used', async () => {
    const lease = await store.grantLease(30);
    await store.put('l/a', '1', { lease: lease.id });
    await store.txn([], [{ type: 'put', key: 'l/b', value: '2', lease: lease.id }, { type: 'put', key: 'l/c', value: '3' }]);
    expect((await store.get('l/a'))?.lease).toBe(lease.id);
    await store.put('l/b', 'detached'); // a put without the lease takes the key off it
    const deleted: Array<[number, string[]]> = [];
    const watch = await store.watch('l/', { onEvents: (events, revision) => deleted.push([revision, events.map(describeEvent)]) });
    await lease.revoke();
    await lease.revoke();
    await waitUntil(() => deleted.length === 1);
    expect(deleted[0]?.[1]).toEqual(['delete l/a']);
    expect((await store.list('l/')).map((e) => e.key)).toEqual(['l/b', 'l/c']);
    await expect(store.put('l/d', '4', { lease: lease.id })).rejects.toThrow();
    expect(await store.get('l/d')).toBeUndefined();
    await watch.cancel();
  });

  test('a transaction that names a dead lease is refused whole: none of its writes apply', async () => {
    const lease = await store.grantLease(30);
    await lease.revoke();
    const r = await store.put('z/kept', 'old');
    await expect(store.txn([], [{ type: 'put', key: 'z/kept', value: 'new' }, { type: 'put', key: 'z/new', value: '1' }, { type: 'put', key: 'z/leased', value: '2', lease: lease.id }])).rejects.toThrow();
    expect((await store.list('z/')).map((e) => [e.key, e.value])).toEqual([['z/kept', 'old']]);
    expect(await store.revision()).toBe(r);
  });

  test('a released lease expires after its TTL, deleting its keys', async () => {
    const lease = await store.grantLease(2);
    await store.put('e/a', '1', { lease: lease.id });
    const deleted: string[] = [];
    const watch = await store.watch('e/', { onEvents: (events) => deleted.push(...events.map(describeEvent)) });
    await lease.release();
    expect(await store.get('e/a')).toBeDefined();
    await waitUntil(async () => (await store.get('e/a')) === undefined, 15_000);
    await waitUntil(() => deleted.length === 1);
    expect(deleted).toEqual(['delete e/a']);
    await watch.cancel();
  }, 20_000);
}

function describeEvent(e: KvEvent): string {
  return e.type === 'put' ? `put ${e.entry.key}` : `delete ${e.key}`;
}

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
