import { describe, expect, test } from 'vitest';
import { median, percentile, ratioInterval } from '../../bench/stats.js';

describe('benchmark statistics', () => {
  test('percentile and median take the nearest rank', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90)).toBe(9);
    expect(median([])).toBeNaN();
  });

  test('ratioInterval: a constant ratio gives a point; noise widens it around the ratio of medians; seeded', () => {
    const a = [100, 110, 120, 130, 140, 150, 160, 170, 180, 190];
    expect(ratioInterval(a, a)).toEqual({ low: 1, high: 1 });
    expect(ratioInterval(a, a.map((x) => x * 2))).toEqual({ low: 0.5, high: 0.5 });
    const noisy = a.map((x, i) => x + (i % 3) * 15);
    const interval = ratioInterval(a, noisy);
    expect(interval.low).toBeLessThan(median(a) / median(noisy));
    expect(interval.high).toBeGreaterThanOrEqual(median(a) / median(noisy));
    expect(ratioInterval(a, noisy)).toEqual(interval);
    expect(ratioInterval([], [])).toEqual({ low: Number.NaN, high: Number.NaN });
  });
});
