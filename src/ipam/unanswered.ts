import { randomUUID } from 'node:crypto';
import type { KvStore, KvWrite } from '../../kvstore/kvstore.js';
import type { AddressRecord } from './records.js';

/** Marker batching: one store transaction per this many milliseconds at most. */
const ANSWER_FLUSH_MS = 10;

/**
 * The marker of an address whose RequestAddress reply has not reached Docker yet, written in
 * the claim's own transaction. The address record names the call (`call`), so a marker left
 * from an earlier holder of the same address never speaks for a new one.
 */
export interface AllocationCall {
  readonly token: string;
  /** The daemon run that made the call: a marker of another run was cut off by a crash or stop. */
  readonly run: string;
  readonly at: string;
}

/**
 * Tells which allocations Docker may never have received. Docker took a RequestAddress whose
 * reply never came as failed and will not release the address, so such an address must not be
 * refused to the user's retry (`docker run --ip` again) nor kept once Docker shows no use of it.
 */
export class UnansweredAllocations {
  private readonly run = randomUUID().slice(0, 8);
  private nextToken = 1;
  private readonly delivered = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: KvStore,
    private readonly markerKey: (poolKey: string, ip: string) => string,
    /** A call older than this without its reply delivered was not answered (the handler's deadline has passed). */
    private readonly deadlineMs: number,
  ) {}

  /** A new call: the token for the address record and the marker write for the claim's transaction. */
  begin(poolKey: string, ip: string): { token: string; write: KvWrite } {
    const call: AllocationCall = { token: `${this.run}-${this.nextToken++}`, run: this.run, at: new Date().toISOString() };
    this.delivered.delete(this.markerKey(poolKey, ip));
    return { token: call.token, write: { type: 'put', key: this.markerKey(poolKey, ip), value: JSON.stringify(call) } };
  }

  /** The reply reached Docker: the marker goes, batched with others. */
  answered(poolKey: string, ip: string): void {
    this.delivered.add(this.markerKey(poolKey, ip));
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      this.flushing = this.flushing.then(() => this.flushDelivered());
    }, ANSWER_FLUSH_MS);
  }

  /** True when Docker cannot have received `record`: its call's marker is from an earlier run, or past the deadline. */
  isDoubtful(record: AddressRecord, marker: AllocationCall | undefined, now = Date.now()): boolean {
    if (!record.call || marker?.token !== record.call) return false;
    return marker.run !== this.run || now - Date.parse(marker.at) > this.deadlineMs;
  }

  async marker(poolKey: string, ip: string): Promise<AllocationCall | undefined> {
    const entry = await this.store.get(this.markerKey(poolKey, ip));
    return entry ? (JSON.parse(entry.value) as AllocationCall) : undefined;
  }

  /** Writes pending answers now (graceful stop). */
  async flush(): Promise<void> {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
      this.flushing = this.flushing.then(() => this.flushDelivered());
    }
    await this.flushing;
  }

  private async flushDelivered(): Promise<void> {
    const keys = [...this.delivered];
    this.delivered.clear();
    if (keys.length === 0) return;
    // Lost on a store error: the address then only looks doubtful, which the convergence with
    // Docker settles by finding it in use.
    await this.store.txn([], keys.map((key): KvWrite => ({ type: 'delete', key }))).catch(() => undefined);
  }
}
