// Child process for crash.test.ts: writes multi-key transactions as fast as it can, from several
// concurrent loops (so group commit is exercised), and prints each acknowledged transaction.
const [, , distUrl, dir, loops] = process.argv;
const { openFileKvStore } = await import(distUrl);
const store = await openFileKvStore({ dir, compactBytes: 64 * 1024 });
const loop = async (g) => {
  const prev = await store.get(`g${g}/a`);
  for (let n = Number(prev?.value ?? 0) + 1; ; n++) {
    const v = String(n);
    await store.txn([], [
      { type: 'put', key: `g${g}/a`, value: v },
      { type: 'put', key: `g${g}/b`, value: v },
      { type: 'put', key: `g${g}/c`, value: v.padStart(200, '0') },
    ]);
    process.stdout.write(`${g} ${n}\n`);
  }
};
await Promise.all(Array.from({ length: Number(loops) }, (_, g) => loop(g)));
