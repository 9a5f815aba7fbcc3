import type { KvStore } from '../../kvstore/kvstore.js';
import type { EndpointRecord, NetworkRecord, Sandbox } from '../core/model.js';

const NETWORK_PREFIX = 'tsnet/v1/local/network/';
const ENDPOINT_PREFIX = 'tsnet/v1/local/endpoint/';

/**
 * Durable home of the CNM records, with a read-through cache: the store is the truth across
 * restarts, the cache answers the hot path (EndpointOperInfo is asked repeatedly by Docker)
 * without touching the disk. Every write goes to the store first and to the cache only after.
 */
export class CnmRepository {
  private readonly networks = new Map<string, NetworkRecord>();
  private readonly endpoints = new Map<string, Map<string, EndpointRecord>>();

  constructor(private readonly store: KvStore) {}

  async load(): Promise<void> {
    this.networks.clear();
    this.endpoints.clear();
    for (const entry of await this.store.list(NETWORK_PREFIX)) {
      const network = JSON.parse(entry.value) as NetworkRecord;
      this.networks.set(network.id, network);
    }
    for (const entry of await this.store.list(ENDPOINT_PREFIX)) {
      const endpoint = JSON.parse(entry.value) as EndpointRecord;
      this.endpointMap(endpoint.networkId).set(endpoint.id, endpoint);
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

  async saveNetwork(network: NetworkRecord): Promise<void> {
    await this.store.put(NETWORK_PREFIX + network.id, JSON.stringify(network));
    this.networks.set(network.id, network);
  }

  /** Deletes the network and any endpoint records left under it, in one transaction. */
  async deleteNetwork(id: string): Promise<void> {
    await this.store.txn([], [
      { type: 'delete', key: NETWORK_PREFIX + id },
      { type: 'delete-prefix', prefix: `${ENDPOINT_PREFIX}${id}/` },
    ]);
    this.networks.delete(id);
    this.endpoints.delete(id);
  }

  async saveEndpoint(endpoint: EndpointRecord): Promise<void> {
    await this.store.put(`${ENDPOINT_PREFIX}${endpoint.networkId}/${endpoint.id}`, JSON.stringify(endpoint));
    this.endpointMap(endpoint.networkId).set(endpoint.id, endpoint);
  }

  async deleteEndpoint(networkId: string, endpointId: string): Promise<void> {
    await this.store.delete(`${ENDPOINT_PREFIX}${networkId}/${endpointId}`);
    this.endpoints.get(networkId)?.delete(endpointId);
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
