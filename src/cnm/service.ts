import type { Logger } from 'pino';
import { GATEWAY_IN_BOTH_FAMILIES, type Driver, type GatewayNeeds, type JoinInfo, type NetworkView } from '../../drivers/driver.js';
import { checkDeadline } from '../core/deadline.js';
import { TsnetError, tsnetError } from '../core/errors.js';
import { shortId } from '../core/ids.js';
import { joinSettled, type EndpointRecord, type ExposedPort, type NetworkRecord, type NetworkType, type PortBinding } from '../core/model.js';
import { addressOf, cidrsOverlap, parseCidr } from '../core/net.js';
import { parseNetworkType } from '../core/options.js';
import type { ReplyWatch } from '../core/reply.js';
import { checkRules, type Firewall } from '../host/firewall.js';
import { checkEndpointAddress, checkEndpointMac } from './endpoint-checks.js';
import { planRuleset } from './firewall-plan.js';
import { generateMac } from './mac.js';
import { checkNetworkPools, checkRoutedOverlap } from './network-checks.js';
import { sandboxFileCheck } from './sandbox-files.js';
import { claimsHeldPort, resolvePortBindings, type PortProbe } from './ports.js';
import { KeyedQueue } from './queue.js';
import type { CnmRepository, RecordRef } from './repository.js';

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

export type { ReplyWatch } from '../core/reply.js';

export interface NetworkServiceDeps {
  readonly repo: CnmRepository;
  readonly drivers: ReadonlyMap<NetworkType, Driver>;
  readonly firewall: Firewall;
  readonly probe: PortProbe;
  readonly log: Logger;
  /**
   * A call still unanswered after this long never will be (the handler deadline has passed):
   * its record is then as doubtful as one cut off by a crash. Default 60 s.
   */
  readonly answerDeadlineMs?: number;
  /** Told after each network is created (the convergence with Docker looks soon after). */
  readonly onNetworkCreated?: () => void;
  /** Whether a container's network namespace still exists (default: its SandboxKey file does). */
  readonly sandboxExists?: (sandboxKey: string) => boolean;
  /** Milliseconds since the epoch; tests move it. */
  readonly now?: () => number;
}

/**
 * Docker's own IPAM refuses a pool that overlaps one of its networks in the same address
 * space, so a new network in one of these spaces that overlaps a tsnet network proves Docker
 * no longer has that network.
 */
const DOCKER_IPAM_SPACES = new Set(['LocalDefault', 'GlobalDefault']);

/** Key of the queue that serialises host-port allocation across all networks. */
const PORTS_QUEUE = '#ports';
/**
 * Key of the queue that makes "does the new network clash with an existing one" and "record
 * the new network" one step: without it, concurrent creates with overlapping subnets all pass
 * the check before any of them is recorded.
 */
const NETWORKS_QUEUE = '#networks';

/**
 * The CNM verbs. Each validates first, records intent, lets the driver change the kernel, then
 * records the result, so that a refusal changes nothing and a crash leaves a record that
 * start-up reconciliation can finish or undo. Calls on one network are serialised.
 *
 * Records whose creating call Docker may never have seen answered (cut off by a crash, or
 * answered after Docker gave up) are "doubtful": they never block a new request, which removes
 * them instead, and the convergence with Docker (docker-sync.ts) settles the rest.
 */
export class NetworkService {
  private readonly queue = new KeyedQueue();
  private readonly answerDeadlineMs: number;
  private readonly sandboxExists: (sandboxKey: string) => boolean;
  private readonly now: () => number;
  /** Records written before this moment come from an earlier run of the daemon. */
  private readonly startedAt: number;
  /** Networks the convergence with Docker saw Docker have, in this run. */
  private seenInDocker: ReadonlySet<string> = new Set();

  constructor(private readonly deps: NetworkServiceDeps) {
    this.answerDeadlineMs = deps.answerDeadlineMs ?? 60_000;
    this.now = deps.now ?? Date.now;
    this.startedAt = this.now();
    this.sandboxExists = deps.sandboxExists ?? sandboxFileCheck();
  }

  /**
   * GwAllocCheck (Docker 28+, before the IPAM calls of `docker network create`): which gateway
   * addresses a network with these `-o` options needs, as its driver says. Only the type is
   * checked; the other options are checked by CreateNetwork, which always follows. Stores
   * nothing. An unknown or unavailable `tsnet.type` is refused here already, before Docker
   * allocates anything.
   */
  gatewayNeeds(options: Readonly<Record<string, string>>, internal: boolean): GatewayNeeds {
    const type = parseNetworkType(options, [...this.deps.drivers.keys()]);
    return this.driver(type).gatewayNeeds?.({ options, internal }) ?? GATEWAY_IN_BOTH_FAMILIES;
  }

  createNetwork(input: CreateNetworkInput, reply?: ReplyWatch): Promise<void> {
    return this.queue.run(input.id, async () => {
      const existing = this.deps.repo.network(input.id);
      if (existing) return this.checkSameNetwork(existing, input);
      const type = parseNetworkType(input.options, [...this.deps.drivers.keys()]);
      const driver = this.driver(type);
      if (driver.endpointInterface !== false) checkNetworkPools(input);
      const { pending, token } = await this.queue.run(NETWORKS_QUEUE, async () => {
        const draft: NetworkRecord = { ...input, type, state: 'pending', createdAt: new Date().toISOString(), driverState: {} };
        const planned: NetworkRecord = { ...draft, driverState: await this.planAgainstOthers(driver, draft) };
        // Every firewall rule the network will need is checked now, before anything exists.
        checkRules(planRuleset([...this.views(), { network: { ...planned, state: 'ready' }, endpoints: [] }], this.deps.drivers));
        return { pending: planned, token: await this.deps.repo.saveNetwork(planned, reply ? 'CreateNetwork' : undefined) };
      });
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
        checkDeadline();
        await this.syncFirewall();
      } catch (err) {
        await this.undoNetwork(driver, ready);
        throw err;
      }
      this.whenDelivered(reply, { networkId: input.id }, token);
      this.deps.onNetworkCreated?.();
    });
  }

  deleteNetwork(networkId: string): Promise<void> {
    return this.queue.run(networkId, async () => {
      const network = this.deps.repo.network(networkId);
      if (!network) return; // already gone: Docker may retry a delete after a timeout
      await this.removeNetworkNow(network);
    });
  }

  /**
   * Removes a network Docker does not have, as DeleteNetwork would, if `stillOrphan` holds once
   * the network's queue is free (a call may have touched it since Docker was asked).
   */
  removeOrphanNetwork(networkId: string, stillOrphan: () => boolean): Promise<boolean> {
    return this.queue.run(networkId, async () => {
      const network = this.deps.repo.network(networkId);
      if (!network || !stillOrphan()) return false;
      await this.removeNetworkNow(network);
      return true;
    });
  }

  /** Removes an endpoint Docker does not have, as DeleteEndpoint would; see {@link removeOrphanNetwork}. */
  removeOrphanEndpoint(networkId: string, endpointId: string, stillOrphan: () => boolean): Promise<boolean> {
    return this.queue.run(networkId, async () => {
      const network = this.deps.repo.network(networkId);
      const endpoint = this.deps.repo.endpoint(networkId, endpointId);
      if (!network || !endpoint || !stillOrphan()) return false;
      await this.removeEndpointNow(network, endpoint);
      return true;
    });
  }

  createEndpoint(input: CreateEndpointInput, reply?: ReplyWatch): Promise<{ macAddress?: string }> {
    return this.queue.run(input.networkId, async () => {
      const network = this.readyNetwork(input.networkId);
      const existing = this.deps.repo.endpoint(input.networkId, input.endpointId);
      if (existing) return this.checkSameEndpoint(existing, input);
      checkEndpointAddress(input.address, network, 4);
      checkEndpointAddress(input.addressV6, network, 6);
      checkEndpointMac(input.mac);
      await this.checkAddressesFree(network, input);
      const driver = this.driver(network.type);
      const hasInterface = driver.endpointInterface !== false;
      const mac = input.mac || (hasInterface ? generateMac(input.address) : '');
      const pending: EndpointRecord = {
        networkId: input.networkId, id: input.endpointId, address: input.address || undefined, addressV6: input.addressV6 || undefined,
        mac, macGenerated: hasInterface && !input.mac, state: 'pending', exposedPorts: input.exposedPorts, ports: [], createdAt: new Date().toISOString(),
      };
      const token = await this.deps.repo.saveEndpoint(pending, reply ? 'CreateEndpoint' : undefined);
      try {
        await driver.createEndpoint(network, pending);
      } catch (err) {
        await this.deps.repo.deleteEndpoint(input.networkId, input.endpointId);
        throw err;
      }
      try {
        checkDeadline();
      } catch (err) {
        await driver.deleteEndpoint(network, pending).catch((e: unknown) => this.deps.log.warn({ err: e, endpointId: input.endpointId }, 'could not remove an endpoint whose call ran past its deadline'));
        await this.deps.repo.deleteEndpoint(input.networkId, input.endpointId);
        throw err;
      }
      await this.deps.repo.saveEndpoint({ ...pending, state: 'ready' });
      this.whenDelivered(reply, { networkId: input.networkId, endpointId: input.endpointId }, token);
      return pending.macGenerated ? { macAddress: mac } : {};
    });
  }

  /**
   * Resolves when Docker may be answered: for a driver with {@link Driver.linksOnlyTeardown}, once
   * the record is gone, while the links are removed behind the answer (still in the network's
   * queue). `removed` resolves when everything is gone, for callers that need that.
   */
  deleteEndpoint(networkId: string, endpointId: string): Promise<void> & { removed: Promise<void> } {
    let answer: () => void = () => undefined;
    const answerable = new Promise<void>((resolve) => { answer = resolve; });
    const removed = this.queue.run(networkId, async () => {
      const network = this.deps.repo.network(networkId);
      const endpoint = this.deps.repo.endpoint(networkId, endpointId);
      if (!network || !endpoint) return; // idempotent: nothing of ours is left
      await this.removeEndpointNow(network, endpoint, answer);
    });
    return Object.assign(Promise.race([answerable, removed]), { removed });
  }

  join(networkId: string, endpointId: string, sandboxKey: string, reply?: ReplyWatch): Promise<JoinInfo> {
    return this.queue.run(networkId, async () => {
      const network = this.readyNetwork(networkId);
      const endpoint = this.readyEndpoint(networkId, endpointId);
      // Docker joins an endpoint once; a repeat with the same sandbox is a retry.
      if (endpoint.sandboxKey && endpoint.sandboxKey !== sandboxKey) {
        throw tsnetError('TSNET_ENDPOINT_JOINED', `endpoint ${shortId(endpointId)} on network ${shortId(networkId)} is already joined to sandbox ${endpoint.sandboxKey}`, 'disconnect the container first; Docker makes a new endpoint for every connect');
      }
      if (endpoint.leftAt) {
        throw tsnetError('TSNET_ENDPOINT_LEFT', `endpoint ${shortId(endpointId)} on network ${shortId(networkId)} has left its sandbox and can only be deleted`, 'connect the container again; Docker makes a new endpoint for it');
      }
      const info = await this.driver(network.type).join(network, endpoint, sandboxKey);
      const token = await this.deps.repo.saveEndpoint({ ...endpoint, sandboxKey, joinedAt: endpoint.joinedAt ?? new Date(this.now()).toISOString() }, reply ? 'Join' : undefined);
      this.whenDelivered(reply, { networkId, endpointId }, token);
      return info;
    });
  }

  leave(networkId: string, endpointId: string): Promise<void> {
    return this.queue.run(networkId, async () => {
      const network = this.deps.repo.network(networkId);
      const endpoint = this.deps.repo.endpoint(networkId, endpointId);
      if (!network || !endpoint?.sandboxKey) return; // never joined, or left already: nothing to do
      await this.driver(network.type).leave(network, endpoint);
      const { sandboxKey: _left, ...rest } = endpoint;
      await this.deps.repo.saveEndpoint({ ...rest, ports: [], leftAt: new Date().toISOString() });
      if (endpoint.ports.length > 0) await this.syncFirewall();
    });
  }

  /**
   * Publishes ports, replacing what the endpoint published before (Docker re-sends it when the
   * container's gateways change). Docker calls it only for an endpoint that is a gateway of the
   * container; `families: 'ipv4'` when it is the IPv4 gateway only, so no IPv6 host address is used.
   */
  programExternalConnectivity(networkId: string, endpointId: string, asked: readonly PortBinding[], reply?: ReplyWatch, families: 'all' | 'ipv4' = 'all'): Promise<void> {
    return this.queue.run(networkId, () => this.queue.run(PORTS_QUEUE, async () => {
      const network = this.readyNetwork(networkId);
      const endpoint = this.readyEndpoint(networkId, endpointId);
      if (!endpoint.sandboxKey) {
        throw tsnetError('TSNET_ENDPOINT_NOT_JOINED', `endpoint ${shortId(endpointId)} on network ${shortId(networkId)} is not joined to a container`, 'Docker publishes ports after Join; connect the container first');
      }
      if (network.internal || (asked.length === 0 && endpoint.ports.length === 0)) return;
      const defaultHostIp = this.driver(network.type).defaultHostIp?.(network);
      const withDefault = defaultHostIp ? asked.map((b) => (b.hostIp === '' ? { ...b, hostIp: defaultHostIp } : b)) : asked;
      // "0.0.0.0" is every IPv4 address only, where "" is every address of both families.
      const requested = families === 'ipv4' ? withDefault.filter((b) => !b.hostIp.includes(':')).map((b) => (b.hostIp === '' ? { ...b, hostIp: '0.0.0.0' } : b)) : withDefault;
      checkBindingFamilies(requested, endpoint, network);
      await this.releaseStalePorts(endpoint, requested);
      const driver = this.driver(network.type);
      // A binding reaches the container directly when every family it is published on does.
      const direct = (b: PortBinding) => { const families = bindingFamilies(b, endpoint); return families.length > 0 && families.every((family) => driver.publishesDirectly?.(network, family) === true); };
      const ports = await resolvePortBindings(requested, endpoint, this.deps.repo.allEndpoints(), this.deps.probe, direct);
      const token = await this.deps.repo.saveEndpoint({ ...endpoint, ports }, reply ? 'ProgramExternalConnectivity' : undefined);
      try {
        await this.syncFirewall();
      } catch (err) {
        await this.deps.repo.saveEndpoint(endpoint);
        throw err;
      }
      this.whenDelivered(reply, { networkId, endpointId }, token);
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

  /** True when Docker may never have seen the record's creating call answered. */
  isDoubtful(ref: RecordRef): boolean {
    const call = this.deps.repo.unansweredCall(ref);
    if (!call) return false;
    return call.fromEarlierRun || this.now() - Date.parse(call.at) > this.answerDeadlineMs;
  }

  /**
   * An endpoint that cannot be in use any more: doubtful, left its sandbox (Docker then only
   * deletes it), or joined to a container that is gone (its sandbox's file is gone, or the
   * driver's kernel objects say so). Such an endpoint gives way to a new one that needs its
   * address or host port: Docker removed the container while tsnet did not hear of it.
   */
  async isStale(ref: Required<RecordRef>): Promise<boolean> {
    const network = this.deps.repo.network(ref.networkId);
    const endpoint = this.deps.repo.endpoint(ref.networkId, ref.endpointId);
    if (!network || !endpoint) return false;
    if (this.isDoubtful(ref) || endpoint.leftAt !== undefined) return true;
    if (endpoint.sandboxKey === undefined) return false;
    const now = this.now();
    // The sandbox's file appears only when the container starts, some time after Join.
    if (joinSettled(endpoint, now) && !this.sandboxExists(endpoint.sandboxKey)) return true;
    // Docker removes a sandbox's file only in a periodic clean-up, so the driver is asked too.
    return (await this.deps.drivers.get(network.type)?.containerGone?.(network, endpoint, now)) ?? false;
  }

  /** What the convergence with Docker last saw Docker have (network ids). */
  seenByDocker(networkIds: Iterable<string>): void {
    this.seenInDocker = new Set(networkIds);
  }

  /** Settles a doubtful record that Docker turned out to know: it is kept, and no longer doubtful. */
  async confirm(ref: RecordRef): Promise<void> {
    await this.deps.repo.clearUnanswered(ref);
  }

  /** Rebuild the whole firewall ruleset from the records (also used by reconciliation). */
  async syncFirewall(): Promise<void> {
    await this.deps.firewall.sync(planRuleset(this.views(), this.deps.drivers));
  }

  /** Resolves when no call is in progress (graceful shutdown). */
  async drain(): Promise<void> {
    await this.queue.drain();
    await this.deps.repo.flush();
  }

  private views(): NetworkView[] {
    return this.deps.repo.allNetworks().map((network) => ({ network, endpoints: this.deps.repo.endpointsOf(network.id) }));
  }

  /**
   * The driver's plan, checked against every other network. A clash with a network Docker
   * cannot have does not refuse the new one; that network is removed instead: a doubtful one
   * (Docker took its create as failed), or one from an earlier run, not seen in Docker since,
   * whose subnet Docker's own IPAM has just handed out again (it would not, had Docker still
   * got that network).
   */
  private async planAgainstOthers(driver: Driver, draft: NetworkRecord): Promise<Record<string, unknown>> {
    const others = this.deps.repo.allNetworks();
    try {
      return this.plan(driver, draft, others);
    } catch (err) {
      const gone = others.filter((o) => this.isDoubtful({ networkId: o.id }) || this.releasedByDockerIpam(o, draft));
      if (!(err instanceof TsnetError) || err.kind !== 'conflict' || gone.length === 0) throw err;
      const plan = this.plan(driver, draft, others.filter((o) => !gone.includes(o)));
      for (const other of gone.filter((g) => this.clashes(driver, draft, g))) {
        this.deps.log.warn({ networkId: other.id, by: draft.id, doubtful: this.isDoubtful({ networkId: other.id }) }, 'removing a network Docker no longer has: a new network needs its subnet or name');
        await this.deleteNetwork(other.id);
      }
      return plan;
    }
  }

  /** The driver's plan, and no subnet routed here twice (see Driver.routesSubnets). */
  private plan(driver: Driver, draft: NetworkRecord, others: readonly NetworkRecord[]): Record<string, unknown> {
    const state = driver.planNetwork(draft, others);
    const routes = (n: NetworkRecord) => this.deps.drivers.get(n.type)?.routesSubnets?.(n) === true;
    if (driver.routesSubnets?.({ ...draft, driverState: state })) checkRoutedOverlap(draft, others.filter((o) => o.id !== draft.id && routes(o)));
    return state;
  }

  private clashes(driver: Driver, draft: NetworkRecord, other: NetworkRecord): boolean {
    try {
      this.plan(driver, draft, [other]);
      return false;
    } catch {
      return true;
    }
  }

  private releasedByDockerIpam(old: NetworkRecord, draft: NetworkRecord): boolean {
    if (Date.parse(old.createdAt) >= this.startedAt || this.seenInDocker.has(old.id)) return false;
    const pools = (n: NetworkRecord) => [...n.ipv4, ...n.ipv6];
    return pools(draft).some((p) => DOCKER_IPAM_SPACES.has(p.addressSpace) && pools(old).some((q) => q.addressSpace === p.addressSpace && cidrsOverlap(parseCidr(q.pool, 'pool'), parseCidr(p.pool, 'pool'))));
  }

  /** Two endpoints of one network must not share an address; a doubtful holder gives way. */
  private async checkAddressesFree(network: NetworkRecord, input: CreateEndpointInput): Promise<void> {
    const wanted = [input.address, input.addressV6].filter((a): a is string => Boolean(a)).map(addressOf);
    for (const other of this.deps.repo.endpointsOf(network.id)) {
      const shared = [other.address, other.addressV6].filter((a): a is string => Boolean(a)).map(addressOf).find((a) => wanted.includes(a));
      if (!shared) continue;
      if (await this.isStale({ networkId: network.id, endpointId: other.id })) {
        this.deps.log.warn({ networkId: network.id, endpointId: other.id, by: input.endpointId }, 'removing an endpoint that cannot be in use any more: a new endpoint needs its address');
        await this.removeEndpointNow(network, other);
        continue;
      }
      throw tsnetError('TSNET_ADDR_TAKEN', `address ${shared} is already used by endpoint ${shortId(other.id)} on network ${shortId(network.id)}`, 'pick another --ip, or remove the container that has it');
    }
  }

  /** A stale endpoint holds no host port that a new request names: its bindings are dropped. */
  private async releaseStalePorts(requester: EndpointRecord, requested: readonly PortBinding[]): Promise<void> {
    const holders: EndpointRecord[] = [];
    for (const e of this.deps.repo.allEndpoints()) {
      if (e.id === requester.id || !e.ports.some((held) => requested.some((r) => claimsHeldPort(r, held)))) continue;
      if (await this.isStale({ networkId: e.networkId, endpointId: e.id })) holders.push(e);
    }
    if (holders.length === 0) return;
    for (const holder of holders) {
      this.deps.log.warn({ networkId: holder.networkId, endpointId: holder.id }, 'dropping published ports of an endpoint that cannot be in use any more');
      await this.deps.repo.saveEndpoint({ ...holder, ports: [] });
    }
    await this.syncFirewall();
  }

  /** DeleteNetwork's work, for a caller that holds the network's queue. */
  private async removeNetworkNow(network: NetworkRecord): Promise<void> {
    const driver = this.driver(network.type);
    for (const endpoint of this.deps.repo.endpointsOf(network.id)) {
      this.deps.log.warn({ networkId: network.id, endpointId: endpoint.id }, 'removing endpoint left on a deleted network');
      await driver.deleteEndpoint(network, endpoint);
    }
    await this.deps.repo.saveNetwork({ ...network, state: 'pending' });
    await this.syncFirewall();
    await driver.deleteNetwork(network);
    await this.deps.repo.deleteNetwork(network.id);
  }

  /**
   * DeleteEndpoint's work, for a caller that already holds the network's queue. With `answer`,
   * a driver whose teardown is only links answers once the record is gone (see
   * {@link Driver.linksOnlyTeardown}); the ports are closed before that either way, since Docker
   * may hand the host port to the next container as soon as it has the answer.
   */
  private async removeEndpointNow(network: NetworkRecord, endpoint: EndpointRecord, answer?: () => void): Promise<void> {
    if (endpoint.ports.length > 0) {
      await this.deps.repo.saveEndpoint({ ...endpoint, ports: [] });
      await this.syncFirewall();
    }
    const driver = this.driver(network.type);
    if (!answer || driver.linksOnlyTeardown !== true) {
      await driver.deleteEndpoint(network, endpoint);
      await this.deps.repo.deleteEndpoint(network.id, endpoint.id);
      return;
    }
    await driver.withdrawEndpoint?.(network, endpoint);
    await this.deps.repo.deleteEndpoint(network.id, endpoint.id);
    answer();
    try {
      await driver.deleteEndpoint(network, endpoint);
    } catch (err) {
      // Docker has its answer; the links have no record now, so the next start-up removes them.
      this.deps.log.warn({ err, networkId: network.id, endpointId: endpoint.id }, 'could not remove the links of a deleted endpoint; tsnet removes them when it next starts');
    }
  }

  private whenDelivered(reply: ReplyWatch | undefined, ref: RecordRef, token: number | undefined): void {
    if (!reply || token === undefined) return;
    reply.onDelivered(() => this.deps.repo.answered(ref, token));
  }

  private async undoNetwork(driver: Driver, network: NetworkRecord): Promise<void> {
    await driver.deleteNetwork(network).catch((err: unknown) => this.deps.log.error({ err, networkId: network.id }, 'rollback of network failed'));
    await this.deps.repo.deleteNetwork(network.id);
  }

  private checkSameNetwork(existing: NetworkRecord, input: CreateNetworkInput): void {
    const same = JSON.stringify([existing.ipv4, existing.ipv6, existing.internal, existing.options]) === JSON.stringify([input.ipv4, input.ipv6, input.internal, input.options]);
    if (!same) throw tsnetError('TSNET_NETWORK_EXISTS', `network ${shortId(existing.id)} already exists with different settings`, 'remove it first with docker network rm');
  }

  private checkSameEndpoint(existing: EndpointRecord, input: CreateEndpointInput): { macAddress?: string } {
    const differs = (existing.address ?? '') !== (input.address ?? '') || (existing.addressV6 ?? '') !== (input.addressV6 ?? '') || (input.mac !== undefined && input.mac !== existing.mac);
    if (differs) {
      const shown = (e: { address?: string; addressV6?: string; mac?: string }) => [e.address, e.addressV6, e.mac].filter(Boolean).join(' ') || 'no address';
      throw tsnetError('TSNET_ENDPOINT_EXISTS', `endpoint ${shortId(existing.id)} already exists on network ${shortId(existing.networkId)} with different settings (${shown(existing)}, asked: ${shown(input)})`, 'remove the endpoint first (docker network disconnect)');
    }
    return existing.macGenerated ? { macAddress: existing.mac } : {};
  }

  private driver(type: NetworkType): Driver {
    const driver = this.deps.drivers.get(type);
    if (!driver) throw tsnetError('TSNET_TYPE_UNAVAILABLE', `network type "${type}" is not available in this tsnet daemon`, `available types: ${[...this.deps.drivers.keys()].join(', ')}`);
    return driver;
  }

  private readyNetwork(networkId: string): NetworkRecord {
    const network = this.deps.repo.network(networkId);
    if (!network || network.state !== 'ready') {
      throw tsnetError('TSNET_NETWORK_UNKNOWN', `tsnet has no network ${shortId(networkId)}`, 'it may predate a loss of tsnet state; remove it with docker network rm and create it again');
    }
    return network;
  }

  private readyEndpoint(networkId: string, endpointId: string): EndpointRecord {
    const endpoint = this.deps.repo.endpoint(networkId, endpointId);
    if (!endpoint || endpoint.state !== 'ready') {
      throw tsnetError('TSNET_ENDPOINT_UNKNOWN', `tsnet has no endpoint ${shortId(endpointId)} on network ${shortId(networkId)}`, 'disconnect and reconnect the container');
    }
    return endpoint;
  }
}

/**
 * A host IP in `-p HOSTIP:…` must be of a family the container has on this network: an IPv6
 * host IP for an IPv4-only container would publish nothing, and tsnet never reports a mapping
 * it has not installed.
 */
/** The address families a binding is published on: its host IP's, or every family the container has. */
function bindingFamilies(binding: PortBinding, endpoint: EndpointRecord): Array<4 | 6> {
  if (binding.hostIp !== '') return [binding.hostIp.includes(':') ? 6 : 4];
  return [...(endpoint.address ? [4 as const] : []), ...(endpoint.addressV6 ? [6 as const] : [])];
}

function checkBindingFamilies(requested: readonly PortBinding[], endpoint: EndpointRecord, network: NetworkRecord): void {
  for (const binding of requested) {
    if (binding.hostIp === '') continue;
    const family = binding.hostIp.includes(':') ? 6 : 4;
    const has = family === 4 ? endpoint.address : endpoint.addressV6;
    if (!has) {
      const shown = family === 6 ? `[${binding.hostIp}]` : binding.hostIp;
      throw tsnetError('TSNET_PORT_FAMILY', `-p ${shown}:${binding.hostPort}:${binding.port}/${binding.proto} publishes on an IPv${family} address, but the container has no IPv${family} address on network ${shortId(network.id)}`, family === 6 ? 'publish on an IPv4 address, or create the network with --ipv6' : 'publish on an IPv6 address, or give the network an IPv4 subnet');
    }
  }
}
