import { checkDeadline } from '../core/deadline.js';

/**
 * Serialises async work per key: mutations of one network run one at a time, in arrival order
 * (libnetwork's per-driver op routine), while different networks proceed in parallel.
 */
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    // A call whose deadline passed while it waited its turn does not start: Docker has its answer.
    const start = () => {
      checkDeadline();
      return work();
    };
    const result = previous.then(start, start);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Resolves when every queued piece of work has finished (used at shutdown). */
  async drain(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()]);
  }
}
