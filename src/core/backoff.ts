/** The longest any background loop of tsnet waits before trying again (etcd, Docker's events). */
export const MAX_BACKOFF_MS = 10_000;

/**
 * Runs an attempt again after a delay that doubles on each failure, from `initialMs` up to
 * {@link MAX_BACKOFF_MS}: the one retry policy of tsnet's background loops (the host's etcd
 * lease, an overlay's peer watch, Docker's event stream), so a service that is down is asked
 * less and less often and every loop recovers the same way. The timer never keeps the process
 * alive.
 */
export class Backoff {
  private delayMs: number;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly attempt: () => void, private readonly initialMs: number) {
    this.delayMs = initialMs;
  }

  /** Schedules the attempt after the current delay (one pending at a time), then doubles the delay. */
  retry(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(this.attempt, this.delayMs);
    this.timer.unref();
    this.delayMs = Math.min(this.delayMs * 2, MAX_BACKOFF_MS);
  }

  /** The attempt worked: the next failure waits the initial delay again. */
  succeeded(): void {
    this.delayMs = this.initialMs;
  }

  /** No attempt runs after this, pending or asked for later. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** The delay the next retry waits (tests read it). */
  get nextDelayMs(): number {
    return this.delayMs;
  }
}
