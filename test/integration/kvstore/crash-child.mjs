// Child process of crash.test.ts (plain JS: Node 20 cannot run TypeScript). Usage:
//   node crash-child.mjs <store module URL> <dir> <loops> <compactBytes>
// Several loops run at once, so group commit batches their transactions. Each transaction of
// loop g moves g from N-1 to N: g/a, g/b, g/c := N, g/d/N replaces g/d/(N-1), and the shared
// counter `total` goes up by one (compare-and-swap, retried on conflict). After each
// acknowledged transaction the child prints "g N revision". The parent kills it with SIGKILL.
const [, , moduleUrl, dir, loops, compactBytes] = process.argv;
const { openFileKvStore } = await import(moduleUrl);
const store = await openFileKvStore({ dir, compactBytes: Number(compactBytes) });

async function step(g) {
  for (;;) {
    const [a, total] = await Promise.all([store.get(`g${g}/a`), store.get('total')]);
    const prev = Number(a?.value ?? 0);
    const n = String(prev + 1);
    const result = await store.txn(
      [{ key: `g${g}/a`, kind: 'mod-revision', revision: a?.modRevision ?? 0 }, { key: 'total', kind: 'mod-revision', revision: total?.modRevision ?? 0 }],
      [
        { type: 'put', key: `g${g}/a`, value: n },
        { type: 'put', key: `g${g}/b`, value: n },
        { type: 'put', key: `g${g}/c`, value: n.padStart(300, '0') },
        { type: 'put', key: `g${g}/d/${n}`, value: n },
        { type: 'delete', key: `g${g}/d/${prev}` },
        { type: 'put', key: 'total', value: String(Number(total?.value ?? 0) + 1) },
      ],
    );
    if (result.succeeded) return [n, result.revision];
  }
}

await Promise.all(Array.from({ length: Number(loops) }, async (_, g) => {
  for (;;) {
    const [n, revision] = await step(g);
    process.stdout.write(`${g} ${n} ${revision}\n`); // synchronous on a pipe (Linux): printed means acknowledged
  }
}));
