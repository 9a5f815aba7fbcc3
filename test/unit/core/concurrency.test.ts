import { describe, expect, test } from 'vitest';
import { settleConcurrently } from '../../../src/core/concurrency.js';

describe('settleConcurrently', () => {
  test('runs every item once, never more than the limit at a time', async () => {
    let running = 0;
    let most = 0;
    const seen: number[] = [];
    const items = Array.from({ length: 23 }, (_, i) => i);
    const failures = await settleConcurrently(items, 4, async (i) => {
      running++;
      most = Math.max(most, running);
      // Uneven durations, so workers finish out of order.
      await new Promise((r) => setTimeout(r, (i * 7) % 5));
      seen.push(i);
      running--;
    });
    expect(failures).toEqual([]);
    expect(most).toBe(4);
    expect(seen.sort((a, b) => a - b)).toEqual(items);
  });

  test('a failing item does not stop the others; failures are returned with their errors', async () => {
    const done: string[] = [];
    const failures = await settleConcurrently(['a', 'b', 'c', 'd'], 2, async (item) => {
      if (item === 'b' || item === 'd') throw new Error(`no ${item}`);
      done.push(item);
    });
    expect(done.sort()).toEqual(['a', 'c']);
    expect(failures.map((f) => [f.item, (f.error as Error).message])).toEqual([['b', 'no b'], ['d', 'no d']]);
  });

  test('no items: resolves at once; a limit that is not a positive integer is refused', async () => {
    expect(await settleConcurrently([], 8, async () => { throw new Error('never called'); })).toEqual([]);
    await expect(settleConcurrently([1], 0, async () => undefined)).rejects.toThrow('limit must be a positive integer, got 0');
  });
});
