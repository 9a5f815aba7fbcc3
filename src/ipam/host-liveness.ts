import type { Logger } from 'pino';
import type { KvLease, KvStore } from '../../kvstore/kvstore.js';
import { Backoff } from '../core/backoff.js';
import { hostKey } from './records.js';

const TTL_SECONDS = 10;

/**
 * Keeps `hosts/<id>` alive in etcd under a lease while this daemon runs, so other hosts (and
 * `tsnet ipam release-host`) can tell a host that is gone from one that is merely quiet. Runs in
 * the background: an unreachable etcd delays it but never blocks the daemon.
 */
export class HostLiveness {
  private lease?: KvLease;
  private stopped = false;
  private readonly again = new Backoff(() => void this.register(), 500);
  private readonly renewed: Array<() => void> = [];

  constructor(private readonly store: KvStore, private readonly hostId: string, private readonly log: Logger) {}

  start(): void {
    void this.register();
  }

  /** The lease now held, if this host is registered. */
  current(): string | undefined {
    return this.lease?.id;
  }

  /** Called after every (re)registration: what was attached to a lost lease must be re-published. */
  onRenewed(listener: () => void): void {
    this.renewed.push(listener);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.again.stop();
    // Let go, not revoked: a daemon that stops is not a host that leaves. Its containers keep
    // running and the kernel keeps forwarding for them, so what it published must stay while it
    // restarts (a revoke would withdraw every endpoint from every other host at once). A daemon
    // back within the TTL publishes it all under its new lease; one that is not is withdrawn
    // when this lease runs out, as after a crash.
    await this.lease?.release().catch((err: unknown) => this.log.warn({ err }, 'could not stop keeping the host lease alive; it expires on its own'));
  }

  private async register(): Promise<void> {
    if (this.stopped) return;
    try {
      const lease = await this.store.grantLease(TTL_SECONDS);
      lease.onLost((reason) => {
        this.log.warn({ reason }, 'host lease lost; registering again');
        if (this.lease === lease) this.lease = undefined;
        this.again.retry();
      });
      await this.store.put(hostKey(this.hostId), JSON.stringify({ pid: process.pid, since: new Date().toISOString() }), { lease: lease.id });
      this.lease = lease;
      this.again.succeeded();
      this.log.info({ hostId: this.hostId }, 'host registered in etcd');
      for (const listener of this.renewed) listener();
    } catch (err) {
      this.log.warn({ err }, 'could not register this host in etcd; will retry');
      this.again.retry();
    }
  }
}
