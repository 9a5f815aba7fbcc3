/** Small statistics helpers for benchmark reports (no timing assertions anywhere). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export const median = (values: readonly number[]): number => percentile(values, 50);

export function fmt(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

/**
 * A bootstrap interval for median(a) / median(b) where a[i] and b[i] were measured in the same
 * round: rounds are resampled together, so drift of the machine during the run hits both sides
 * alike. Seeded, so the same samples always give the same interval.
 */
export function ratioInterval(a: readonly number[], b: readonly number[], level = 0.9, iterations = 2_000): { low: number; high: number } {
  return bootstrapInterval([a, b], ([ra = [], rb = []]) => median(ra) / median(rb), level, iterations);
}

/**
 * The same for an overhead ratio, (median(a) − median(base)) / (median(b) − median(base)): what
 * a costs over a baseline measured in the same rounds, against what b costs over it.
 */
export function overheadRatioInterval(a: readonly number[], b: readonly number[], base: readonly number[], level = 0.9, iterations = 2_000): { low: number; high: number } {
  return bootstrapInterval([a, b, base], ([ra = [], rb = [], rbase = []]) => (median(ra) - median(rbase)) / (median(rb) - median(rbase)), level, iterations);
}

/** Resamples whole rounds (index i of every series together) and takes the statistic's percentiles. */
function bootstrapInterval(series: ReadonlyArray<readonly number[]>, statistic: (resampled: number[][]) => number, level: number, iterations: number): { low: number; high: number } {
  const n = Math.min(...series.map((s) => s.length));
  if (n === 0) return { low: Number.NaN, high: Number.NaN };
  let seed = 0x9e3779b9;
  const random = () => {
    // xorshift32: enough for resampling indices, and reproducible.
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x1_0000_0000;
  };
  const values: number[] = [];
  for (let k = 0; k < iterations; k++) {
    const resampled = series.map(() => [] as number[]);
    for (let i = 0; i < n; i++) {
      const j = Math.floor(random() * n);
      series.forEach((s, si) => resampled[si]?.push(s[j] as number));
    }
    values.push(statistic(resampled));
  }
  const tail = ((1 - level) / 2) * 100;
  return { low: percentile(values, tail), high: percentile(values, 100 - tail) };
}
