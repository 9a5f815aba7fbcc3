import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, retry } from 'cockatiel';
import { CompareResult, CompareTarget, Etcd3, GRPCDeadlineExceededError, GRPCUnavailableError, SortOrder, SortTarget, type ICompare, type IKeyValue, type IRequestOp, type Namespace } from 'etcd3';
import type { Logger } from 'pino';
import { TsnetError, tsnetError } from '../../src/core/errors.js';
import type { KvCompare, KvEntry, KvLease, KvStore, KvTxnResult, KvWatch, KvWatchHandlers, KvWrite, LeaseId } from '../kvstore.js';
import { watchPrefix } from './etcd-watch.js';

export interface EtcdKvStoreOptions {
  /** Client URLs, e.g. http://10.0.0.5:2379. */
  readonly endpoints: readonly string[];
  /** Every key tsnet writes lives under this prefix (default "tsnet/"). */
  readonly prefix: string;
  readonly tls?: { readonly ca: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
  readonly auth?: { readonly username: string; readonly password: string };
  readonly dialTimeoutMs: number;
  /** Deadline of each unary call; past it the call fails with an error naming etcd. */
  readonly callTimeoutMs: number;
  readonly log?: Logger;
  /** Told of every unary etcd call (for metrics): what it did, how long it took, whether it failed. Must not throw. */
  readonly onCall?: (call: { readonly op: string; readonly ms: number; readonly ok: boolean }) => void;
}

/**
 * KvStore over etcd v3, for state shared by hosts (global pools, overlay networks). Keys are
 * confined to one prefix; transactions map one-to-one onto etcd's Txn, so compare-and-swap
 * across hosts is settled by etcd itself. Credentials never appear in logs or errors.
 */
export class EtcdKvStore implements KvStore {
  readonly description: string;
  private readonly client: Etcd3;
  private readonly ns: Namespace;
  private readonly prefix: Buffer;
  private closed = false;

  constructor(private readonly options: EtcdKvStoreOptions) {
    this.description = `etcd ${options.endpoints.map(redactUrl).join(',')}`;
    this.prefix = Buffer.from(options.prefix);
    this.client = new Etcd3({
      hosts: [...options.endpoints],
      dialTimeout: options.dialTimeoutMs,
      credentials: options.tls ? { rootCertificate: options.tls.ca, certChain: options.tls.cert, privateKey: options.tls.key } : undefined,
      auth: options.auth ? { username: options.auth.username, password: options.auth.password } : undefined,
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + options.callTimeoutMs }),
      // etcd3's defaults treat a missed deadline like a dead server: three in a row (a burst on
      // a loaded host) stop every call for 5 s, and each is retried three times, so a
      // transaction that did commit is sent again and its compare-and-swap then "fails", which
      // leaks what it wrote. Only an unreachable server (UNAVAILABLE: nothing was sent) is
      // retried or rests the endpoint; a late answer stays the caller's error. The retries wait a
      // little: when one of etcd3's streams (a watch, the lease's keep-alive) fails, it closes the
      // channel that calls in flight share, and an immediate retry could meet the same closing
      // channel ("Channel closed before call started", seen once in the lab at start-up).
      faultHandling: {
        host: () => circuitBreaker(handleWhen(isUnreachable), { halfOpenAfter: 2_000, breaker: new ConsecutiveBreaker(3) }),
        global: retry(handleWhen(isUnreachable), { maxAttempts: 3, backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 400 }) }),
      },
    });
    this.ns = this.client.namespace(options.prefix);
  }

  async get(key: string): Promise<KvEntry | undefined> {
    checkKey(key);
    const res = await this.call('read', () => this.client.kv.range({ key: this.full(key) }));
    const kv = res.kvs[0];
    return kv ? this.toEntry(kv) : undefined;
  }

  async list(prefix: string): Promise<KvEntry[]> {
    const key = this.full(prefix);
    const res = await this.call('list', () => this.client.kv.range({ key, range_end: prefixEnd(key), sort_order: SortOrder.Ascend, sort_target: SortTarget.Key }));
    return res.kvs.map((kv) => this.toEntry(kv));
  }

  // KvWriteOptions.survives is not read here: every etcd write is replicated and synced anyway.
  async put(key: string, value: string, options?: { lease?: LeaseId }): Promise<number> {
    checkKey(key);
    const res = await this.call('write', () => this.client.kv.put({ key: this.full(key), value: Buffer.from(value), lease: options?.lease }));
    return Number(res.header.revision);
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    const res = await this.call('delete', () => this.client.kv.deleteRange({ key: this.full(key) }));
    return Number(res.deleted) > 0;
  }

  async txn(compares: readonly KvCompare[], onSuccess: readonly KvWrite[], onFailure: readonly KvWrite[] = []): Promise<KvTxnResult> {
    const request = { compare: compares.map((c) => this.toCompare(c)), success: onSuccess.map((w) => this.toOp(w)), failure: onFailure.map((w) => this.toOp(w)) };
    const res = await this.call('transaction', () => this.client.kv.txn(request));
    return { succeeded: res.succeeded, revision: Number(res.header.revision) };
  }

  async revision(): Promise<number> {
    const res = await this.call('read', () => this.client.kv.range({ key: this.prefix, count_only: true }));
    return Number(res.header.revision);
  }

  watch(prefix: string, handlers: KvWatchHandlers, options?: { fromRevision?: number }): Promise<KvWatch> {
    return watchPrefix(this.ns, prefix, handlers, options?.fromRevision, this.options.log).catch((err: unknown) => {
      throw this.unavailable('watch', err);
    });
  }

  async grantLease(ttlSeconds: number): Promise<KvLease> {
    const lease = this.ns.lease(ttlSeconds, { autoKeepAlive: true });
    const id = await this.call('grant a lease', () => lease.grant());
    let released = false;
    return {
      id,
      ttlSeconds,
      onLost: (listener) => { lease.on('lost', (err) => listener(err.message)); },
      revoke: async () => {
        if (!lease.revoked()) await this.call('revoke a lease', () => lease.revoke());
      },
      release: async () => {
        if (!released) lease.release();
        released = true;
      },
    };
  }

  /**
   * What etcd says of a lease: seconds left and the TTL it was granted, or undefined when it has
   * expired or never existed (etcd answers TTL -1). Not part of KvStore: the local store's leases
   * die with the process, so only `tsnet doctor` asks this, of another process's lease.
   */
  async leaseTimeToLive(id: LeaseId): Promise<{ ttlSeconds: number; grantedSeconds: number } | undefined> {
    const res = await this.call('read a lease', () => this.ns.leaseClient.leaseTimeToLive({ ID: id }));
    const ttl = Number(res.TTL);
    return ttl < 0 ? undefined : { ttlSeconds: ttl, grantedSeconds: Number(res.grantedTTL) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }

  private full(key: string): Buffer {
    return Buffer.concat([this.prefix, Buffer.from(key)]);
  }

  private toEntry(kv: IKeyValue): KvEntry {
    const lease = kv.lease && kv.lease !== '0' ? String(kv.lease) : undefined;
    return { key: kv.key.subarray(this.prefix.length).toString(), value: kv.value.toString(), createRevision: Number(kv.create_revision), modRevision: Number(kv.mod_revision), lease };
  }

  private toCompare(c: KvCompare): ICompare {
    const key = this.full(checkKey(c.key));
    switch (c.kind) {
      case 'absent': return { key, target: CompareTarget.Create, result: CompareResult.Equal, create_revision: 0 };
      case 'present': return { key, target: CompareTarget.Create, result: CompareResult.Greater, create_revision: 0 };
      case 'mod-revision': return { key, target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: c.revision };
      case 'value': return { key, target: CompareTarget.Value, result: CompareResult.Equal, value: Buffer.from(c.value) };
    }
  }

  private toOp(w: KvWrite): IRequestOp {
    switch (w.type) {
      case 'put': return { request_put: { key: this.full(checkKey(w.key)), value: Buffer.from(w.value), lease: w.lease } };
      case 'delete': return { request_delete_range: { key: this.full(checkKey(w.key)) } };
      case 'delete-prefix': {
        const key = this.full(w.prefix);
        return { request_delete_range: { key, range_end: prefixEnd(key) } };
      }
    }
  }

  /** Every etcd call goes through here, so every failure names etcd and the endpoints. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    // A read changes nothing, so one that missed its deadline is asked once more: a single-node
    // etcd answers reads only once it has applied earlier writes, and a slow fsync on a loaded
    // host can stall that past the deadline (seen when three lab hosts started at once). Writes
    // are never sent twice (see faultHandling above).
    const attempts = what === 'read' || what === 'list' ? 2 : 1;
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw new TsnetError('TSNET_KV_CLOSED', `${this.description} client is closed`);
      const started = performance.now();
      try {
        const result = await fn();
        this.options.onCall?.({ op: what, ms: performance.now() - started, ok: true });
        return result;
      } catch (err) {
        this.options.onCall?.({ op: what, ms: performance.now() - started, ok: false });
        if (attempt < attempts && err instanceof GRPCDeadlineExceededError) continue;
        throw this.unavailable(what, err);
      }
    }
  }

  private unavailable(what: string, err: unknown): TsnetError {
    const raw = err instanceof Error ? err.message : String(err);
    const authProblem = /auth|permission|password|token/i.test(raw);
    // The etcd3 client stops calling an endpoint for a few seconds after repeated failures.
    const resting = /circuit breaker is open/i.test(raw);
    const reason = authProblem ? 'etcd refused the credentials or permissions'
      : resting ? 'etcd was unreachable moments ago, and the client waits a few seconds before trying it again'
        : scrub(raw, this.options.auth?.password);
    return new TsnetError('TSNET_ETCD_UNAVAILABLE', `could not ${what} in ${this.description}: ${reason}`,
      authProblem ? 'check --etcd-user/--etcd-password-file and the role of that user' : 'check that etcd is running and reachable at that address; networks that need only local state keep working', { cause: err });
  }
}

/** The first key after every key that starts with `prefix` (etcd's range_end for a prefix). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function checkKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0 || key.includes('\0') || key.length > 4096) throw tsnetError('TSNET_KV_KEY', `store key ${JSON.stringify(String(key).slice(0, 64))} is not a non-empty string without NUL of at most 4096 characters`);
  return key;
}

/** Endpoint URLs may carry user:password@; never show it. */
function isUnreachable(err: Error): boolean {
  return err instanceof GRPCUnavailableError;
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//');
}

/** Removes anything credential-like from a client library's message before tsnet shows it. */
function scrub(message: string, password?: string): string {
  let text = redactUrl(message).replace(/[^\s/:@]+:[^\s/@]+@/g, '');
  if (password) text = text.split(password).join('***');
  return text.slice(0, 300);
}
