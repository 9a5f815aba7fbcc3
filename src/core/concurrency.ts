/**
 * Calls `work` for every item, at most `limit` at a time, and resolves once all have settled
 * with the items whose work failed and why. It never rejects: the caller decides what a failure
 * of some items means (a start-up republish logs them and relies on its retry).
 */
export async function settleConcurrently<T>(items: readonly T[], limit: number, work: (item: T) => Promise<unknown>): Promise<Array<{ readonly item: T; readonly error: unknown }>> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`);
  const failures: Array<{ item: T; error: unknown }> = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (error) {
        failures.push({ item, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return failures;
}
