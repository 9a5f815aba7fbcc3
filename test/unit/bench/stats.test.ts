import { describe, expect, test } from 'vitest';
import { median, overheadRatioInterval, percentile, ratioInterval } from '../../bench/stats.js';

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

  test('overheadRatioInterval: costs over a baseline from the same rounds; exact when every round agrees', () => {
    const base = [300, 320, 310, 330, 305, 315];
    const bridge = base.map((x) => x + 100);
    const overlay = base.map((x) => x + 120);
    expect(overheadRatioInterval(overlay, bridge, base)).toEqual({ low: 1.2, high: 1.2 });
    const noisy = overlay.map((x, i) => x + (i % 2 ? 30 : -30));
    const interval = overheadRatioInterval(noisy, bridge, base);
    expect(interval.low).toBeLessThan(1.2);
    expect(interval.high).toBeGreaterThan(1.2);
    expect(overheadRatioInterval([], [], [])).toEqual({ low: Number.NaN, high: Number.NaN });
  });
});
