/** Where a part that does not stop cleanly is reported (the daemon's pino logger fits). */
export interface LifecycleLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Something the daemon keeps running: a store, a connection, a background loop, a driver. */
export interface Lifecycle {
  /** Begins background work; absent for a part that is ready once built. */
  start?(): void | Promise<void>;
  /** Ends it. The daemon calls it once, after every part that depends on this one has stopped. */
  stop(): Promise<void>;
}

/** How often a part that has not stopped yet is named in the log. */
const STILL_STOPPING_EVERY_MS = 2_000;

/**
 * The parts of the daemon, started in the order they depend on each other and stopped in
 * reverse, so each part outlives those that use it (the local store closes after the call queue
 * that writes to it has drained; etcd after the overlay's watches on it). A part that fails to
 * stop is logged and the others still stop: a stopping daemon must not hang on one of them.
 */
export class Lifecycles {
  private readonly parts: Array<{ readonly name: string; readonly part: Lifecycle }> = [];
  private stopping: Promise<void> | undefined;

  constructor(private readonly log: LifecycleLog) {}

  /** Starts `part` and registers it to be stopped; returns it, for use inline. */
  async start<P extends Lifecycle>(name: string, part: P): Promise<P> {
    if (this.stopping) {
      // Start-up raced a stop: what was built is let go at once rather than left running.
      await part.stop().catch((err: unknown) => this.log.warn({ err, part: name }, 'did not stop cleanly'));
      throw new Error(`${name} was not started: the daemon is stopping`);
    }
    await part.start?.();
    this.parts.push({ name, part });
    return part;
  }

  /** Stops every started part, last started first. Idempotent: later calls wait for the first. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const { name, part } of [...this.parts].reverse()) {
        const started = performance.now();
        // A part that holds the stop up says so: the supervisor's kill comes later and says nothing.
        const slow = setInterval(() => this.log.warn({ part: name, ms: Math.round(performance.now() - started) }, 'still stopping'), STILL_STOPPING_EVERY_MS);
        slow.unref();
        try {
          await part.stop();
          this.log.info({ part: name, ms: Math.round(performance.now() - started) }, 'stopped');
        } catch (err) {
          this.log.warn({ err, part: name }, 'did not stop cleanly');
        } finally {
          clearInterval(slow);
        }
      }
    })();
    return this.stopping;
  }
}
