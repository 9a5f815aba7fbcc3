import type { KvStore, KvWrite, KvWriteOptions } from '../../kvstore/kvstore.js';
import type { EndpointRecord, NetworkRecord, Sandbox } from '../core/model.js';

const NETWORK_PREFIX = 'tsnet/v1/local/network/';
const ENDPOINT_PREFIX = 'tsnet/v1/local/endpoint/';
/**
 * One key per network or endpoint whose latest creating call (CreateNetwork, CreateEndpoint,
 * Join, ProgramExternalConnectivity) has not been answered yet. It is written in the same
 * transaction as the record and removed once the reply has reached Docker's socket, so after
 * a crash it tells exactly which records Docker may never have heard of.
 */
const UNANSWERED_PREFIX = 'tsnet/v1/local/unanswered/';

/** Which dockerd this plugin serves, as the convergence with Docker last verified it. */
const DOCKER_IDENTITY_KEY = 'tsnet/v1/local/docker-identity';

/**
 * Endpoint records (and the markers of their calls) describe kernel state — a veth or macvlan
 * link, firewall rules for its ports — that a power loss takes away with it, and Docker forgets
 * the containers' endpoints then too. So they must survive a crash of the daemon (the kernel
 * objects outlive it, and start-up must find them) but need not wait for an fdatasync, which is
 * most of the time each of Docker's endpoint calls spends here. A record that reappears in an
 * older state after a power loss is one Docker no longer lists: the convergence with Docker
 * (docker-sync.ts) removes it. Networks and IPAM keep full durability: Docker keeps those.
 */
const KERNEL_LIFETIME: KvWriteOptions = { survives: 'daemon-crash' };

/** Marker batching: one store transaction per this many milliseconds at most. */
const ANSWER_FLUSH_MS = 10;

/** An unanswered call on a record, as the marker records it. */
export interface UnansweredCall {
  readonly method: string;
  readonly at: string;
  /** Distinguishes two calls on one record, so an old answer never clears a newer marker. */
  readonly token: number;
  /** True when the marker was found at start-up: its call was cut off by a crash or a stop. */
  readonly fromEarlierRun: boolean;
}

/** Which record a marker is about: a network, or an endpoint of it. */
export interface RecordRef {
  readonly networkId: string;
  readonly endpointId?: string;
}

/**
 * Durable home of the CNM records, with a read-through cache: the store is the truth across
 * restarts, the cache answers the hot path (EndpointOperInfo is asked repeatedly by Docker)
 * without touching the disk. Every write goes to the store first and to the cache only after.
 */
export class CnmRepository {
  private readonly networks = new Map<string, NetworkRecord>();
  private readonly endpoints = new Map<string, Map<string, EndpointRecord>>();
  private readonly unanswered = new Map<string, UnansweredCall>();
  private readonly answeredKeys = new Map<string, number>();
  private nextToken = 1;
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly store: KvStore) {}

  async load(): Promise<void> {
    this.networks.clear();
    this.endpoints.clear();
    this.unanswered.clear();
    for (const entry of await this.store.list(NETWORK_PREFIX)) {
      const network = JSON.parse(entry.value) as NetworkRecord;
      this.networks.set(network.id, network);
    }
    for (const entry of await this.store.list(ENDPOINT_PREFIX)) {
      const endpoint = JSON.parse(entry.value) as EndpointRecord;
      this.endpointMap(endpoint.networkId).set(endpoint.id, endpoint);
    }
    for (const entry of await this.store.list(UNANSWERED_PREFIX)) {
      const call = JSON.parse(entry.value) as Omit<UnansweredCall, 'fromEarlierRun'>;
      this.unanswered.set(entry.key, { ...call, fromEarlierRun: true });
    }
  }

  network(id: string): NetworkRecord | undefined {
    return this.networks.get(id);
  }

  allNetworks(): NetworkRecord[] {
    return [...this.networks.values()];
  }

  endpoint(networkId: string, endpointId: string): EndpointRecord | undefined {
    return this.endpoints.get(networkId)?.get(endpointId);
  }

  endpointsOf(networkId: string): EndpointRecord[] {
    return [...(this.endpoints.get(networkId)?.values() ?? [])];
  }

  allEndpoints(): EndpointRecord[] {
    return [...this.endpoints.values()].flatMap((m) => [...m.values()]);
  }

  /** Sandboxes are derived: every sandbox key some joined endpoint points at. */
  sandboxes(): Sandbox[] {
    const byKey = new Map<string, string[]>();
    for (const endpoint of this.allEndpoints()) {
      if (!endpoint.sandboxKey) continue;
      byKey.set(endpoint.sandboxKey, [...(byKey.get(endpoint.sandboxKey) ?? []), endpoint.id]);
    }
    return [...byKey.entries()].map(([key, endpointIds]) => ({ key, endpointIds }));
  }

  /** The record's unanswered call, if its latest creating call has not reached Docker. */
  unansweredCall(ref: RecordRef): UnansweredCall | undefined {
    return this.unanswered.get(markerKey(ref));
  }

  /** Every unanswered call, for the convergence with Docker and for reports. */
  allUnanswered(): Array<RecordRef & UnansweredCall> {
    return [...this.unanswered.entries()].map(([key, call]) => ({ ...refOf(key), ...call }));
  }

  /**
   * Saves the network. With `call`, also marks it unanswered by that call, in the same
   * transaction, and returns the token that {@link answered} needs.
   */
  async saveNetwork(network: NetworkRecord, call?: string): Promise<number | undefined> {
    return this.write(NETWORK_PREFIX + network.id, network, { networkId: network.id }, call, () => this.networks.set(network.id, network), {});
  }

  /** Deletes the network, its markers and any endpoint records left under it, in one transaction. */
  async deleteNetwork(id: string): Promise<void> {
    await this.store.txn([], [
      { type: 'delete', key: NETWORK_PREFIX + id },
      { type: 'delete-prefix', prefix: `${ENDPOINT_PREFIX}${id}/` },
      { type: 'delete', key: markerKey({ networkId: id }) },
      { type: 'delete-prefix', prefix: `${markerKey({ networkId: id })}/` },
    ]);
    this.networks.delete(id);
    this.endpoints.delete(id);
    for (const key of [...this.unanswered.keys()]) if (refOf(key).networkId === id) this.unanswered.delete(key);
  }

  async saveEndpoint(endpoint: EndpointRecord, call?: string): Promise<number | undefined> {
    const ref = { networkId: endpoint.networkId, endpointId: endpoint.id };
    return this.write(`${ENDPOINT_PREFIX}${endpoint.networkId}/${endpoint.id}`, endpoint, ref, call, () => this.endpointMap(endpoint.networkId).set(endpoint.id, endpoint), KERNEL_LIFETIME);
  }

  async deleteEndpoint(networkId: string, endpointId: string): Promise<void> {
    const marker = markerKey({ networkId, endpointId });
    await this.store.txn([], [{ type: 'delete', key: `${ENDPOINT_PREFIX}${networkId}/${endpointId}` }, { type: 'delete', key: marker }], [], KERNEL_LIFETIME);
    this.endpoints.get(networkId)?.delete(endpointId);
    this.unanswered.delete(marker);
  }

  /**
   * The reply of the call that wrote `token` has reached Docker's socket: the marker goes.
   * Batched, because this follows every creating call; a crash before the batch is written
   * only makes a record look doubtful, which the convergence with Docker then settles. A batch
   * of endpoint markers only need survive a daemon crash, like the endpoints; one with a network's
   * marker waits for the disk, as a network that looks doubtful may give way to a new one.
   */
  answered(ref: RecordRef, token: number): void {
    const key = markerKey(ref);
    if (this.unanswered.get(key)?.token !== token) return;
    this.unanswered.delete(key);
    this.answeredKeys.set(key, token);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      this.flushing = this.flushing.then(() => this.flushAnswered());
    }, ANSWER_FLUSH_MS);
  }

  /** Forgets a marker without its call having been answered (the record was settled otherwise). */
  async clearUnanswered(ref: RecordRef): Promise<void> {
    const key = markerKey(ref);
    this.unanswered.delete(key);
    await this.store.delete(key);
  }

  async dockerIdentity(): Promise<string | undefined> {
    return (await this.store.get(DOCKER_IDENTITY_KEY))?.value;
  }

  async saveDockerIdentity(identity: string): Promise<void> {
    await this.store.put(DOCKER_IDENTITY_KEY, identity);
  }

  /** Writes pending answers now (graceful stop). */
  async flush(): Promise<void> {
    if (this.flushTimer) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
      this.flushing = this.flushing.then(() => this.flushAnswered());
    }
    await this.flushing;
  }

  private async flushAnswered(): Promise<void> {
    // A newer call on the same record may have written a new marker since: keep that one.
    const keys = [...this.answeredKeys.keys()].filter((key) => !this.unanswered.has(key));
    this.answeredKeys.clear();
    if (keys.length === 0) return;
    const durability = keys.some((key) => refOf(key).endpointId === undefined) ? {} : KERNEL_LIFETIME;
    await this.store.txn([], keys.map((key): KvWrite => ({ type: 'delete', key })), [], durability).catch(() => undefined);
  }

  private async write(key: string, record: object, ref: RecordRef, call: string | undefined, cache: () => void, durability: KvWriteOptions): Promise<number | undefined> {
    const writes: KvWrite[] = [{ type: 'put', key, value: JSON.stringify(record) }];
    let token: number | undefined;
    if (call) {
      token = this.nextToken++;
      const marker = { method: call, at: new Date().toISOString(), token };
      // In memory before the store write, so a batch of answers issued meanwhile spares it.
      this.unanswered.set(markerKey(ref), { ...marker, fromEarlierRun: false });
      writes.push({ type: 'put', key: markerKey(ref), value: JSON.stringify(marker) });
    }
    try {
      if (writes.length === 1) await this.store.put(key, JSON.stringify(record), durability);
      else await this.store.txn([], writes, [], durability);
    } catch (err) {
      if (token !== undefined && this.unanswered.get(markerKey(ref))?.token === token) this.unanswered.delete(markerKey(ref));
      throw err;
    }
    cache();
    return token;
  }

  private endpointMap(networkId: string): Map<string, EndpointRecord> {
    let map = this.endpoints.get(networkId);
    if (!map) {
      map = new Map();
      this.endpoints.set(networkId, map);
    }
    return map;
  }
}

function markerKey(ref: RecordRef): string {
  return `${UNANSWERED_PREFIX}${ref.networkId}${ref.endpointId ? `/${ref.endpointId}` : ''}`;
}

function refOf(key: string): RecordRef {
  const [networkId = '', endpointId] = key.slice(UNANSWERED_PREFIX.length).split('/');
  return endpointId ? { networkId, endpointId } : { networkId };
}
