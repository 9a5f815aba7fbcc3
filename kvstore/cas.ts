/** What an attempt returns to be tried again: its compare failed because someone else wrote first. */
export const RETRY: unique symbol = Symbol('cas-retry');
export type Attempt<T> = T | typeof RETRY;

/** How often a compare-and-swap is tried before giving up: enough for dozens of writers on one key. */
export const CAS_ATTEMPTS = 64;

/**
 * Runs `attempt` (read, decide, write with a compare) until it returns anything but
 * {@link RETRY}, at most `attempts` times, then throws what `exhausted` makes. Every optimistic
 * write of tsnet's goes through here, so the limit and the way of giving up are the same
 * everywhere. An attempt that throws ends the loop with its error (a refusal is not a conflict).
 */
export async function casRetry<T>(attempt: (n: number) => Promise<Attempt<T>>, exhausted: () => Error, attempts = CAS_ATTEMPTS): Promise<T> {
  for (let n = 0; n < attempts; n++) {
    const result = await attempt(n);
    if (result !== RETRY) return result;
  }
  throw exhausted();
}
