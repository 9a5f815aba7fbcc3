import type { Logger } from 'pino';
import type { Driver, JoinInfo, NetworkView } from '../../drivers/driver.js';
import { TsnetError, conflict, invalid, notFound } from '../core/errors.js';
import { shortId } from '../core/ids.js';
import type { EndpointRecord, ExposedPort, IpPool, NetworkRecord, NetworkType, PortBinding } from '../core/model.js';
import { addressOf, cidrContains, parseCidr } from '../core/net.js';
import { parseNetworkType } from '../core/options.js';
import type { Firewall } from '../host/firewall.js';
import { planRuleset } from './firewall-plan.js';
import { generateMac } from './mac.js';
import { resolvePortBindings, type PortProbe } from './ports.js';
import { KeyedQueue } from './queue.js';
import type { CnmRepository } from './repository.js';

/** What Docker's CreateNetwork tells us, in domain terms (the rest of the record is tsnet's). */
export type CreateNetworkInput = Pick<NetworkRecord, 'id' | 'ipv4' | 'ipv6' | 'internal' | 'enableIpv6' | 'options'>;

export interface CreateEndpointInput {
  readonly networkId: string;
  readonly endpointId: string;
  readonly address?: string;
  readonly addressV6?: string;
  readonly mac?: string;
  readonly exposedPorts: readonly ExposedPort[];
}

export interface NetworkServiceDeps {
  readonly repo: CnmRepository;
  readonly drivers: ReadonlyMap<NetworkType, Driver>;
  readonly firewall: Firewall;
  readonly probe: PortProbe;
  readonly log: Logger;
}

/** Key of the queue that serialises host-port allocation across all networks. */
const PORTS_QUEUE = '#ports';

/**
 * The CNM verbs. Each validates first, records intent, lets the driver change the kernel, then
 * records the result, so that a refusal changes nothing and a crash leaves a record that
 * start-up reconciliation can finish or undo. Calls on one network are serialised.
 */
export class NetworkService {
  private readonly queue = new KeyedQueue();

  constructor(private readonly deps: NetworkServiceDeps) {}

  createNetwork(input: CreateNetworkInput): Promise<void> {
    return this.queue.run(input.id, async () => {
      const existing = this.deps.repo.network(input.id);
      if (existing) return this.checkSameNetwork(existing, input);
      const type = parseNetworkType(input.options);
      const driver = this.driver(type);
      const draft: NetworkRecord = { ...input, type, state: 'pending', createdAt: new Date().toISOString(), driverState: {} };
      const pending: NetworkRecord = { ...draft, driverState: driver.planNetwork(draft, this.deps.repo.allNetworks()) };
      await this.deps.repo.saveNetwork(pending);
      let learned: Record<string, unknown>;
      try {
        learned = await driver.createNetwork(pending);
      } catch (err) {
        await this.deps.repo.deleteNetwork(input.id);
        throw err;
      }
      const ready: NetworkRecord = { ...pending, state: 'ready', driverState: { ...pending.driverState, ...learned } };
      await this.deps.repo.saveNetwork(ready);
      try {
        await this.syncFirewall();
      } catch (err) {
        await this.undoNetwork(driver, ready);
        throw err;
      }
    });
  }

  deleteNetwork(networkId: string): Promise<void> {
    return this.queue.run(networkId, async () => {
      const network = this.deps.repo.network(networkId);
      if (!network) return; // already gone: Docker may retry a delete after a timeout
      const driver = this.driver(network.type);
      for (const endpoint of this.deps.repo.endpointsOf(networkId)) {
        this.deps.log.warn({ networkId, endpointId: endpoint.id }, 'removing endpoint left on a deleted network');
        await driver.deleteEndpoint(network, endpoint);
      }
      await this.deps.repo.saveNetwork({ ...network, state: 'pending' });
      await this.syncFirewall();
      await driver.deleteNetwork(network);
      await this.deps.repo.deleteNetwork(networkId);
    });
  }

  createEndpoint(input: CreateEndpointInput): Promise<{ macAddress?: string }> {
    return this.queue.run(input.networkId, async () => {
      const network = this.readyNetwork(input.networkId);
      const existing = this.deps.repo.endpoint(input.networkId, input.endpointId);
      if (existing) return existing.macGenerated ? { macAddress: existing.mac } : {};
      checkAddressInPools(input.address, network.ipv4, 'IPv4');
      checkAddressInPools(input.addressV6, network.ipv6, 'IPv6');
      const driver = this.driver(network.type);
      const mac = input.mac || generateMac(input.address);
      const draft: EndpointRecord = {
        networkId: input.networkId, id: input.endpointId, address: input.address || undefined, addressV6: input.addressV6 || undefined,
        mac, macGenerated: !input.mac, state: 'pending', exposedPorts: input.exposedPorts, ports: [], createdAt: new Date().toISOString(), driverState: {},
      };
      const pending: EndpointRecord = { ...draft, ...driver.planEndpoint(network, draft) };
      await this.deps.repo.saveEndpoint(pending);
      try {
        await driver.createEndpoint(network, pending);
      } catch (err) {
        await this.deps.repo.deleteEndpoint(input.networkId, input.endpointId);
        throw err;
      }
      await this.deps.repo.saveEndpoint({ ...pending, state: 'ready' });
      return pending.macGenerated ? { macAddress: mac } : {};
    });
  }

  deleteEndpoint(networkId: string, endpointId: string): Promise<void> {
    return this.queue.run(networkId, async () => {
      const network = this.deps.repo.network(networkId);
      const endpoint = this.deps.repo.endpoint(networkId, endpointId);
      if (!network || !endpoint) return; // idempotent: nothing of ours is left
      if (endpoint.ports.length > 0) {
        await this.deps.repo.saveEndpoint({ ...endpoint, ports: [] });
        await this.syncFirewall();
      }
      await this.driver(network.type).deleteEndpoint(network, endpoint);
      await this.deps.repo.deleteEndpoint(networkId, endpointId);
    });
  }

  join(networkId: string, endpointId: string, sandboxKey: string): Promise<JoinInfo> {
    return this.queue.run(networkId, async () => {
      const network = this.readyNetwork(networkId);
      const endpoint = this.readyEndpoint(networkId, endpointId);
      const info = await this.driver(network.type).join(network, endpoint, sandboxKey);
      await this.deps.repo.saveEndpoint({ ...endpoint, sandboxKey });
      return info;
    });
  }

  leave(networkId: string, endpointId: string): Promise<void> {
    return this.queue.run(networkId, async () => {
      const network = this.deps.repo.network(networkId);
      const endpoint = this.deps.repo.endpoint(networkId, endpointId);
      if (!network || !endpoint) return;
      await this.driver(network.type).leave(network, endpoint);
      const { sandboxKey: _left, ...rest } = endpoint;
      await this.deps.repo.saveEndpoint({ ...rest, ports: [] });
      if (endpoint.ports.length > 0) await this.syncFirewall();
    });
  }

  /** Publishes ports. Docker calls it only for the endpoint that is the container's gateway. */
  programExternalConnectivity(networkId: string, endpointId: string, requested: readonly PortBinding[]): Promise<void> {
    return this.queue.run(networkId, () => this.queue.run(PORTS_QUEUE, async () => {
      const network = this.readyNetwork(networkId);
      const endpoint = this.readyEndpoint(networkId, endpointId);
      if (network.internal || requested.length === 0) return;
      const ports = await resolvePortBindings(requested, endpoint, this.deps.repo.allEndpoints(), this.deps.probe);
      await this.deps.repo.saveEndpoint({ ...endpoint, ports });
      try {
        await this.syncFirewall();
      } catch (err) {
        await this.deps.repo.saveEndpoint(endpoint);
        await this.syncFirewall().catch((e: unknown) => this.deps.log.error({ err: e }, 'firewall restore after failure failed'));
        throw err;
      }
    }));
  }

  revokeExternalConnectivity(networkId: string, endpointId: string): Promise<void> {
    return this.queue.run(networkId, async () => {
      const endpoint = this.deps.repo.endpoint(networkId, endpointId);
      if (!endpoint || endpoint.ports.length === 0) return;
      await this.deps.repo.saveEndpoint({ ...endpoint, ports: [] });
      await this.syncFirewall();
    });
  }

  /** The endpoint as it stands now (answered from memory; Docker asks this repeatedly). */
  endpointInfo(networkId: string, endpointId: string): EndpointRecord {
    return this.readyEndpoint(networkId, endpointId);
  }

  /** Rebuild the whole firewall ruleset from the records (also used by reconciliation). */
  async syncFirewall(): Promise<void> {
    const views: NetworkView[] = this.deps.repo.allNetworks().map((network) => ({ network, endpoints: this.deps.repo.endpointsOf(network.id) }));
    await this.deps.firewall.sync(planRuleset(views, this.deps.drivers));
  }

  /** Resolves when no call is in progress (graceful shutdown). */
  drain(): Promise<void> {
    return this.queue.drain();
  }

  private async undoNetwork(driver: Driver, network: NetworkRecord): Promise<void> {
    await driver.deleteNetwork(network).catch((err: unknown) => this.deps.log.error({ err, networkId: network.id }, 'rollback of network failed'));
    await this.deps.repo.deleteNetwork(network.id);
  }

  private checkSameNetwork(existing: NetworkRecord, input: CreateNetworkInput): void {
    const same = JSON.stringify([existing.ipv4, existing.ipv6, existing.internal, existing.options]) === JSON.stringify([input.ipv4, input.ipv6, input.internal, input.options]);
    if (!same) throw conflict('TSNET_NETWORK_EXISTS', `network ${shortId(existing.id)} already exists with different settings`, 'remove it first with docker network rm');
  }

  private driver(type: NetworkType): Driver {
    const driver = this.deps.drivers.get(type);
    if (!driver) throw invalid('TSNET_TYPE_UNAVAILABLE', `network type "${type}" is not available in this tsnet daemon`, `available types: ${[...this.deps.drivers.keys()].join(', ')}`);
    return driver;
  }

  private readyNetwork(networkId: string): NetworkRecord {
    const network = this.deps.repo.network(networkId);
    if (!network || network.state !== 'ready') {
      throw notFound('TSNET_NETWORK_UNKNOWN', `tsnet has no network ${shortId(networkId)}`, 'it may predate a loss of tsnet state; remove it with docker network rm and create it again');
    }
    return network;
  }

  private readyEndpoint(networkId: string, endpointId: string): EndpointRecord {
    const endpoint = this.deps.repo.endpoint(networkId, endpointId);
    if (!endpoint || endpoint.state !== 'ready') {
      throw notFound('TSNET_ENDPOINT_UNKNOWN', `tsnet has no endpoint ${shortId(endpointId)} on network ${shortId(networkId)}`, 'disconnect and reconnect the container');
    }
    return endpoint;
  }
}

function checkAddressInPools(address: string | undefined, pools: readonly IpPool[], family: string): void {
  if (!address) return;
  const ip = addressOf(address);
  parseCidr(address, `endpoint ${family} address`);
  if (pools.length > 0 && !pools.some((p) => cidrContains(parseCidr(p.pool, 'pool'), ip))) {
    throw new TsnetError('TSNET_ADDR_OUTSIDE', 'invalid', `endpoint address ${address} is outside the network's subnets (${pools.map((p) => p.pool).join(', ')})`, 'pick an --ip inside the subnet');
  }
}
