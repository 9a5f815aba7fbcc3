import { describe, expect, test } from 'vitest';
import { KvState } from '../../../kvstore/local/state.js';
import { crc32, crc32Portable, decodeRecords, encodeRecord } from '../../../kvstore/local/wal.js';

describe('KvState sorted index', () => {
  test('list(prefix) matches a naive filter-and-sort through thousands of random writes', () => {
    const state = new KvState();
    const naive = new Map<string, string>();
    let seed = 42;
    const random = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    const prefixes = ['', 'a/', 'a/b', 'b/', 'c/x/', 'zz'];
    for (let i = 0; i < 20_000; i++) {
      const key = `${'abc'[random(3)]}/${'xyb'[random(3)]}${random(500)}`;
      if (random(3) === 0) {
        state.delete(key);
        naive.delete(key);
      } else {
        state.set({ key, value: String(i), createRevision: 1, modRevision: i });
        naive.set(key, String(i));
      }
      if (i % 997 === 0) {
        for (const prefix of prefixes) {
          const expected = [...naive.keys()].filter((k) => k.startsWith(prefix)).sort();
          expect(state.keysWithPrefix(prefix)).toEqual(expected);
        }
      }
    }
    expect(state.size).toBe(naive.size);
    expect(state.list('').map((e) => e.value)).toEqual([...naive.keys()].sort().map((k) => naive.get(k)));
  });
});

describe('log records', () => {
  test('CRC-32 is the standard one, with or without zlib.crc32', () => {
    const check = Buffer.from('123456789');
    expect(crc32Portable(check)).toBe(0xcbf43926);
    expect(crc32(check)).toBe(0xcbf43926);
    const random = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff));
    expect(crc32(random)).toBe(crc32Portable(random));
  });

  test('decoding stops at the first torn or corrupt record', () => {
    const a = encodeRecord({ r: 2, w: [{ d: 'x' }] });
    const b = encodeRecord({ r: 3, w: [{ p: { k: 'y', v: 'é', c: 3 } }] });
    expect(decodeRecords(Buffer.concat([a, b]))).toEqual({ records: [{ r: 2, w: [{ d: 'x' }] }, { r: 3, w: [{ p: { k: 'y', v: 'é', c: 3 } }] }], validLength: a.length + b.length });
    expect(decodeRecords(Buffer.concat([a, b.subarray(0, b.length - 1)])).validLength).toBe(a.length);
    expect(decodeRecords(Buffer.concat([a, b.subarray(0, 5)])).validLength).toBe(a.length);
    const lengthTooBig = Buffer.from(b);
    lengthTooBig.writeUInt32LE(0xffffffff, 0);
    expect(decodeRecords(Buffer.concat([a, lengthTooBig])).validLength).toBe(a.length);
  });
});
