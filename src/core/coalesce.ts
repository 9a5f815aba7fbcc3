/**
 * Runs a pass of work one at a time: a request while a pass runs is answered by one more pass
 * after it, however many requests came, so bursts coalesce and the last request is always
 * served (libnetwork's peerDB lesson: converge to recorded state, never replay each event).
 * `work` handles its own errors; the passes stop repeating once `stopped()` is true.
 */
export class Coalesced {
  private running?: Promise<void>;
  private again = false;

  constructor(private readonly work: () => Promise<void>, private readonly stopped: () => boolean) {}

  /** Requests a pass; resolves when the passes that serve this request are done. */
  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    // `running` is cleared in the same step as the last check of `again`: a request that comes
    // after that check starts a new run instead of joining one that has already decided to end.
    const passes = (async () => {
      try {
        do {
          this.again = false;
          await this.work();
        } while (this.again && !this.stopped());
      } finally {
        this.running = undefined;
      }
    })();
    this.running = passes;
    return passes;
  }

  /** The passes in progress, if any (a stop waits for them). */
  get current(): Promise<void> | undefined {
    return this.running;
  }
}
