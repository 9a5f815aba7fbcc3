import type { Logger } from 'pino';
import { RETRY, casRetry } from '../../kvstore/cas.js';
import type { KvCompare, KvStore, KvWrite } from '../../kvstore/kvstore.js';
import { TsnetError, tsnetError } from '../core/errors.js';
import { bigIntToIp, ipToBigInt } from '../core/net.js';
import type { ReplyWatch } from '../core/reply.js';
import { addressInPool, formatAddress, poolGeometry, poolsOverlap, type PoolGeometry } from './pool-geometry.js';
import { loadPoolState, type PoolState } from './pool-state.js';
import { poolKey, spaceKeys, type AddressRecord, type GatewayRecord, type PoolRecord } from './records.js';
import { UnansweredAllocations, type AllocationCall } from './unanswered.js';

export interface PoolRequest {
  /** Canonical pool to use, or a chooser that picks one given the pools already in the space. */
  readonly pool: string | ((existing: readonly PoolGeometry[]) => string);
  readonly subPool?: string;
  readonly v6: boolean;
  readonly options: Readonly<Record<string, string>>;
}

/** One pool as one host holds it; see {@link AddressSpace.holdings}. */
export interface HostHoldings {
  readonly pool: string;
  readonly v6: boolean;
  /** This host's references (RequestPool calls not yet released). */
  readonly refs: number;
  /** When this host last changed its references. */
  readonly touched: string;
  /** Addresses this host allocated, the shared gateway excepted. */
  readonly addresses: ReadonlyArray<{
    readonly ip: string;
    readonly at: string;
    readonly kind: 'gateway' | 'address';
    /** Allocated by a call whose reply never reached Docker: Docker cannot be using it. */
    readonly doubtful: boolean;
  }>;
  /** The pool's shared gateway when this host is one of its holders (global space). */
  readonly sharedGateway?: string;
}

/** One pool of a space with every host's share of it (for `tsnet ipam`). */
export interface PoolUsage {
  readonly pool: string;
  readonly subPool?: string;
  readonly v6: boolean;
  /** Addresses that may be handed out (the sub-pool's when there is one); a string, as IPv6 counts exceed a double's precision. */
  readonly size: string;
  readonly allocated: number;
  readonly gateway?: string;
  /** Per host: its RequestPool references and the addresses it holds. */
  readonly holders: ReadonlyArray<{ readonly host: string; readonly refs: number; readonly addresses: number }>;
  readonly createdAt: string;
}

/**
 * One address space: its pools and their allocations, in one KvStore. A local space lives in
 * the host's file store; the global space lives in etcd and is shared by every host. Every
 * change is a single compare-and-swap transaction, retried on conflict, so two hosts (or two
 * concurrent calls) can never hand out the same address or create overlapping pools.
 */
export class AddressSpace {
  private readonly keys: ReturnType<typeof spaceKeys>;
  private readonly states = new Map<string, Promise<PoolState>>();
  /**
   * Per pool key, the shared gateway this host holds. Its address cannot change while this host
   * is one of its holders, so releasing any other address needs no read of the gateway record
   * (one etcd round trip less on every container stop).
   */
  private readonly heldGateways = new Map<string, string>();
  private readonly unanswered: UnansweredAllocations;

  constructor(
    readonly name: string,
    readonly shared: boolean,
    private readonly store: KvStore,
    private readonly hostId: string,
    private readonly log: Logger,
    /** How long a call may take to be answered (the handler's deadline and some margin); default 60 s. */
    answerDeadlineMs = 60_000,
  ) {
    this.keys = spaceKeys(name);
    this.unanswered = new UnansweredAllocations(store, this.keys.unansweredAt, answerDeadlineMs);
  }

  async requestPool(request: PoolRequest): Promise<string> {
    return casRetry(async () => {
      const [version, entries] = await Promise.all([this.store.get(this.keys.poolsVersion), this.store.list(this.keys.pools)]);
      const existing = entries.map((e) => ({ entry: e, record: JSON.parse(e.value) as PoolRecord }));
      const geometries = existing.map((p) => poolGeometry(p.record.pool, p.record.subPool));
      const wanted = typeof request.pool === 'string' ? request.pool : request.pool(geometries);
      const geometry = poolGeometry(wanted, request.subPool);
      const same = existing.find((p) => p.record.pool === geometry.pool);
      if (same) {
        if ((same.record.subPool ?? '') !== (geometry.subPool ?? '')) {
          throw tsnetError('TSNET_IPAM_POOL_EXISTS', `pool ${geometry.pool} already exists in address space ${this.name} with ip-range ${same.record.subPool ?? '(none)'}`, 'use the same --ip-range as the existing network, or another --subnet');
        }
        const refs = { ...same.record.refs, [this.hostId]: (same.record.refs[this.hostId] ?? 0) + 1 };
        const touched = { ...same.record.touched, [this.hostId]: new Date().toISOString() };
        const ok = await this.store.txn([{ key: same.entry.key, kind: 'mod-revision', revision: same.entry.modRevision }], [{ type: 'put', key: same.entry.key, value: JSON.stringify({ ...same.record, refs, touched }) }]);
        return ok.succeeded ? geometry.pool : RETRY;
      }
      const clash = existing.find((p, i) => geometries[i] && poolsOverlap(geometries[i] as PoolGeometry, geometry));
      if (clash) {
        throw tsnetError('TSNET_IPAM_POOL_OVERLAP', `pool ${geometry.pool} overlaps pool ${clash.record.pool} already in address space ${this.name}`, 'choose a --subnet that does not overlap, or remove the network that uses the other pool');
      }
      const now = new Date().toISOString();
      const record: PoolRecord = { pool: geometry.pool, subPool: geometry.subPool, v6: request.v6, refs: { [this.hostId]: 1 }, touched: { [this.hostId]: now }, options: request.options, createdAt: now };
      const versionCheck: KvCompare = version ? { key: this.keys.poolsVersion, kind: 'mod-revision', revision: version.modRevision } : { key: this.keys.poolsVersion, kind: 'absent' };
      const key = this.keys.pool(poolKey(geometry.pool));
      const ok = await this.store.txn([versionCheck, { key, kind: 'absent' }], [
        { type: 'put', key, value: JSON.stringify(record) },
        { type: 'put', key: this.keys.poolsVersion, value: String(Date.now()) },
      ]);
      return ok.succeeded ? geometry.pool : RETRY;
    }, () => this.contended('create the pool'));
  }

  async releasePool(pool: string, count = 1): Promise<void> {
    const key = this.keys.pool(poolKey(pool));
    await casRetry(async () => {
      const entry = await this.store.get(key);
      if (!entry) return; // already gone: Docker may release twice
      const record = JSON.parse(entry.value) as PoolRecord;
      const refs: Record<string, number> = { ...record.refs };
      const holder = refs[this.hostId] ? this.hostId : Object.keys(refs)[0];
      if (holder) refs[holder] = Math.max(0, (refs[holder] ?? 1) - count);
      if (holder && refs[holder] === 0) delete refs[holder];
      const compare: KvCompare[] = [{ key, kind: 'mod-revision', revision: entry.modRevision }];
      const touched = { ...record.touched, [this.hostId]: new Date().toISOString() };
      const writes = Object.keys(refs).length > 0
        ? [{ type: 'put' as const, key, value: JSON.stringify({ ...record, refs, touched }) }]
        : [
            { type: 'delete' as const, key },
            { type: 'delete-prefix' as const, prefix: this.keys.addrs(poolKey(pool)) },
            { type: 'delete-prefix' as const, prefix: this.keys.cursors(poolKey(pool)) },
            { type: 'delete-prefix' as const, prefix: this.keys.unanswered(poolKey(pool)) },
            { type: 'delete' as const, key: this.keys.gateway(poolKey(pool)) },
            { type: 'put' as const, key: this.keys.poolsVersion, value: String(Date.now()) },
          ];
      if (!(await this.store.txn(compare, writes)).succeeded) return RETRY;
      if (Object.keys(refs).length === 0) await this.dropState(pool);
    }, () => this.contended('release the pool'));
  }

  /**
   * Allocates `address` exactly, or the gateway (first free from the start), or the next serial
   * address. With `reply`, a container's address stays marked unanswered until the reply has
   * reached Docker.
   */
  async requestAddress(pool: string, address: string | undefined, gateway: boolean, reply?: ReplyWatch): Promise<string> {
    const key = poolKey(pool);
    if (gateway && this.shared) return this.sharedGateway(key, address);
    const state = await this.state(key);
    const { geometry, map } = state;
    const watch = gateway ? undefined : reply;
    if (address) {
      const value = addressInPool(geometry, address);
      if (map.has(value) || !(await this.claim(key, value, gateway, undefined, watch))) {
        map.mark(value);
        if (await this.takeOver(key, geometry, value, gateway, watch)) return formatAddress(geometry, value);
        throw await this.inUse(key, geometry, value);
      }
      return formatAddress(geometry, value);
    }
    return casRetry(async () => {
      const value = gateway ? this.firstFree(state) : map.nextFree();
      if (value === undefined) {
        throw tsnetError('TSNET_IPAM_EXHAUSTED', `pool ${geometry.subPool ?? geometry.pool} has no free address left (${map.size} in use)`, 'use a larger --subnet or --ip-range, or remove unused containers');
      }
      // Reserve in memory first so that concurrent requests on this host pick different addresses.
      map.mark(value);
      if (!gateway) map.advanceTo(value);
      let claimed: boolean;
      try {
        claimed = await this.claim(key, value, gateway, gateway ? undefined : value, watch);
      } catch (err) {
        map.unmark(value);
        throw err;
      }
      // Not claimed: another host took it between our read and our write; it stays marked.
      return claimed ? formatAddress(geometry, value) : RETRY;
    }, () => this.contended('allocate an address'));
  }

  async releaseAddress(pool: string, address: string): Promise<void> {
    const key = poolKey(pool);
    if (this.shared && (await this.releaseSharedGateway(key, address))) return;
    const value = ipToBigInt(address);
    const addrKey = this.keys.addr(key, address);
    await this.store.txn([{ key: addrKey, kind: 'present' }], [{ type: 'delete', key: addrKey }, { type: 'delete', key: this.keys.unansweredAt(key, address) }]);
    const state = this.states.get(key);
    if (state) (await state.catch(() => undefined))?.map.unmark(value);
  }

  /**
   * What this host holds in the space: its pool references and, per pool, the addresses it
   * allocated and whether it shares the pool's gateway. Read straight from the store, for the
   * convergence with Docker (ipam-sync.ts).
   */
  async holdings(): Promise<HostHoldings[]> {
    const result: HostHoldings[] = [];
    for (const entry of await this.store.list(this.keys.pools)) {
      const record = JSON.parse(entry.value) as PoolRecord;
      const refs = record.refs[this.hostId] ?? 0;
      const key = poolKey(record.pool);
      const prefix = this.keys.addrs(key);
      const gwEntry = this.shared ? await this.store.get(this.keys.gateway(key)) : undefined;
      const gateway = gwEntry ? (JSON.parse(gwEntry.value) as GatewayRecord) : undefined;
      const markerPrefix = this.keys.unanswered(key);
      const markers = new Map((await this.store.list(markerPrefix)).map((m) => [m.key.slice(markerPrefix.length), JSON.parse(m.value) as AllocationCall]));
      const addresses = (await this.store.list(prefix))
        .map((a) => ({ ip: a.key.slice(prefix.length), record: JSON.parse(a.value) as AddressRecord }))
        .filter((a) => a.record.host === this.hostId && a.ip !== gateway?.ip)
        .map((a) => ({ ip: a.ip, at: a.record.at, kind: a.record.kind, doubtful: this.unanswered.isDoubtful(a.record, markers.get(a.ip)) }));
      const sharesGateway = gateway?.hosts.includes(this.hostId) ? gateway.ip : undefined;
      if (refs === 0 && addresses.length === 0 && !sharesGateway) continue;
      result.push({ pool: record.pool, v6: record.v6, refs, touched: record.touched?.[this.hostId] ?? record.createdAt, addresses, sharedGateway: sharesGateway });
    }
    return result;
  }

  /** Every pool of the space with its usage per host, read from the store (never inside a plugin call's queue). */
  async usage(): Promise<PoolUsage[]> {
    const result: PoolUsage[] = [];
    for (const entry of await this.store.list(this.keys.pools)) {
      const record = JSON.parse(entry.value) as PoolRecord;
      const key = poolKey(record.pool);
      const prefix = this.keys.addrs(key);
      const addresses = (await this.store.list(prefix)).map((a) => ({ ip: a.key.slice(prefix.length), record: JSON.parse(a.value) as AddressRecord }));
      const gwEntry = this.shared ? await this.store.get(this.keys.gateway(key)) : undefined;
      const gateway = gwEntry ? (JSON.parse(gwEntry.value) as GatewayRecord).ip : addresses.find((a) => a.record.kind === 'gateway')?.ip;
      const hosts = new Set([...Object.keys(record.refs), ...addresses.map((a) => a.record.host)]);
      const geometry = poolGeometry(record.pool, record.subPool);
      result.push({
        pool: record.pool, ...(record.subPool ? { subPool: record.subPool } : {}), v6: record.v6,
        size: String(geometry.autoLast - geometry.autoFirst + 1n), allocated: addresses.length, ...(gateway ? { gateway } : {}),
        holders: [...hosts].sort().map((host) => ({ host, refs: record.refs[host] ?? 0, addresses: addresses.filter((a) => a.record.host === host).length })),
        createdAt: record.createdAt,
      });
    }
    return result;
  }

  async close(): Promise<void> {
    await this.unanswered.flush();
    for (const key of [...this.states.keys()]) await this.dropState(key.replace('_', '/'));
  }

  /**
   * In a shared space every host that creates the network asks for its gateway (Docker does so
   * per host). The first request allocates it; later ones from any host get the same address,
   * so `--gateway 10.0.0.1` can be given on every host. The address goes with the last host.
   */
  private async sharedGateway(key: string, address: string | undefined): Promise<string> {
    const gwKey = this.keys.gateway(key);
    return casRetry(async () => {
      const state = await this.state(key);
      const entry = await this.store.get(gwKey);
      if (entry) {
        const record = JSON.parse(entry.value) as GatewayRecord;
        if (address && address !== record.ip) {
          throw tsnetError('TSNET_IPAM_GATEWAY', `the gateway of pool ${state.geometry.pool} is already ${record.ip} (hosts ${record.hosts.join(', ')})`, `pass --gateway ${record.ip} on every host, or leave it out`);
        }
        const hosts = [...new Set([...record.hosts, this.hostId])];
        const ok = await this.store.txn([{ key: gwKey, kind: 'mod-revision', revision: entry.modRevision }], [{ type: 'put', key: gwKey, value: JSON.stringify({ ...record, hosts }) }]);
        if (!ok.succeeded) return RETRY;
        this.heldGateways.set(key, record.ip);
        return formatAddress(state.geometry, ipToBigInt(record.ip));
      }
      const value = address ? addressInPool(state.geometry, address) : this.firstFree(state);
      if (value === undefined) throw tsnetError('TSNET_IPAM_EXHAUSTED', `pool ${state.geometry.pool} has no free address for a gateway`, 'use a larger --subnet');
      const ip = bigIntToIp(value, state.geometry.family);
      const record: AddressRecord = { host: this.hostId, at: new Date().toISOString(), kind: 'gateway' };
      const ok = await this.store.txn(
        [{ key: gwKey, kind: 'absent' }, { key: this.keys.addr(key, ip), kind: 'absent' }, { key: this.keys.pool(key), kind: 'present' }],
        [{ type: 'put', key: gwKey, value: JSON.stringify({ ip, hosts: [this.hostId] } satisfies GatewayRecord) }, { type: 'put', key: this.keys.addr(key, ip), value: JSON.stringify(record) }],
      );
      if (ok.succeeded) {
        state.map.mark(value);
        this.heldGateways.set(key, ip);
        return formatAddress(state.geometry, value);
      }
      if (address && (await this.store.get(this.keys.addr(key, ip))) && !(await this.store.get(gwKey))) throw await this.inUse(key, state.geometry, value);
      return RETRY;
    }, () => this.contended('allocate the gateway'));
  }

  /** Drops this host from a shared gateway; true when `address` was that gateway. */
  private async releaseSharedGateway(key: string, address: string): Promise<boolean> {
    const held = this.heldGateways.get(key);
    if (held !== undefined && held !== address) return false;
    const gwKey = this.keys.gateway(key);
    return casRetry(async () => {
      const entry = await this.store.get(gwKey);
      if (!entry) return false;
      const record = JSON.parse(entry.value) as GatewayRecord;
      if (record.ip !== address) return false;
      const hosts = record.hosts.filter((h) => h !== this.hostId);
      const compare = [{ key: gwKey, kind: 'mod-revision' as const, revision: entry.modRevision }];
      const writes = hosts.length > 0
        ? [{ type: 'put' as const, key: gwKey, value: JSON.stringify({ ...record, hosts }) }]
        : [{ type: 'delete' as const, key: gwKey }, { type: 'delete' as const, key: this.keys.addr(key, address) }];
      if (!(await this.store.txn(compare, writes)).succeeded) return RETRY;
      this.heldGateways.delete(key);
      return true;
    }, () => this.contended('release the gateway'));
  }

  /** One transaction: the address key must be absent and the pool present. */
  private async claim(key: string, value: bigint, gateway: boolean, cursor?: bigint, reply?: ReplyWatch): Promise<boolean> {
    const ip = bigIntToIp(value, (await this.state(key)).geometry.family);
    const { record, writes } = this.allocation(key, ip, gateway, reply);
    if (cursor !== undefined) writes.push({ type: 'put', key: this.keys.cursor(key, this.hostId), value: String(cursor) });
    const result = await this.store.txn([{ key: this.keys.addr(key, ip), kind: 'absent' }, { key: this.keys.pool(key), kind: 'present' }], writes);
    if (!result.succeeded && !(await this.store.get(this.keys.pool(key)))) {
      await this.dropState(key.replace('_', '/'));
      throw new TsnetError('TSNET_IPAM_POOL_UNKNOWN', `pool ${key.replace('_', '/')} was released while allocating`, 're-create the network');
    }
    if (result.succeeded && record.call) reply?.onDelivered(() => this.unanswered.answered(key, ip));
    return result.succeeded;
  }

  /** The address record and the writes that allocate it, with its unanswered marker when a reply is watched. */
  private allocation(key: string, ip: string, gateway: boolean, reply: ReplyWatch | undefined): { record: AddressRecord; writes: KvWrite[] } {
    const call = reply ? this.unanswered.begin(key, ip) : undefined;
    const record: AddressRecord = { host: this.hostId, at: new Date().toISOString(), kind: gateway ? 'gateway' : 'address', ...(call ? { call: call.token } : {}) };
    const writes: KvWrite[] = [{ type: 'put', key: this.keys.addr(key, ip), value: JSON.stringify(record) }];
    if (call) writes.push(call.write);
    return { record, writes };
  }

  /**
   * An explicit address held by this host through a call Docker never saw answered (the
   * daemon died before the reply, or the reply never left): Docker took that request as failed
   * and will not release it, so the user's retry of the same `--ip` gets it.
   */
  private async takeOver(key: string, geometry: PoolGeometry, value: bigint, gateway: boolean, reply: ReplyWatch | undefined): Promise<boolean> {
    const ip = bigIntToIp(value, geometry.family);
    const addrKey = this.keys.addr(key, ip);
    const entry = await this.store.get(addrKey);
    if (!entry) return false;
    const held = JSON.parse(entry.value) as AddressRecord;
    if (held.host !== this.hostId || held.kind !== 'address' || !this.unanswered.isDoubtful(held, await this.unanswered.marker(key, ip))) return false;
    const { record, writes } = this.allocation(key, ip, gateway, reply);
    if (!record.call) writes.push({ type: 'delete', key: this.keys.unansweredAt(key, ip) });
    const { succeeded } = await this.store.txn([{ key: addrKey, kind: 'mod-revision', revision: entry.modRevision }], writes);
    if (!succeeded) return false;
    this.log.warn({ pool: geometry.pool, address: ip, since: held.at }, 'giving an address to a new request: the call that took it was never answered, so Docker does not have it');
    if (record.call) reply?.onDelivered(() => this.unanswered.answered(key, ip));
    return true;
  }

  private firstFree(state: PoolState): bigint | undefined {
    for (let v = state.geometry.usableFirst; v <= state.geometry.usableLast; v++) if (!state.map.has(v)) return v;
    return undefined;
  }

  private async inUse(key: string, geometry: PoolGeometry, value: bigint): Promise<TsnetError> {
    const ip = bigIntToIp(value, geometry.family);
    const entry = await this.store.get(this.keys.addr(key, ip)).catch(() => undefined);
    const holder = entry ? (JSON.parse(entry.value) as AddressRecord) : undefined;
    const who = holder ? ` (held by host ${holder.host} since ${holder.at})` : '';
    return tsnetError('TSNET_IPAM_ADDR_IN_USE', `address ${ip} is already in use in pool ${geometry.pool}${who}`, 'pick another --ip, or leave it out to get a free one');
  }

  private state(key: string): Promise<PoolState> {
    let state = this.states.get(key);
    if (!state) {
      state = loadPoolState({ store: this.store, space: this.name, key, hostId: this.hostId, shared: this.shared, log: this.log, onStale: () => void this.dropState(key.replace('_', '/')) });
      this.states.set(key, state);
      state.catch(() => this.states.delete(key));
    }
    return state;
  }

  private async dropState(pool: string): Promise<void> {
    const key = poolKey(pool);
    const state = this.states.get(key);
    this.states.delete(key);
    this.heldGateways.delete(key);
    await (await state?.catch(() => undefined))?.close();
  }

  private contended(what: string): TsnetError {
    return new TsnetError('TSNET_IPAM_CONTENDED', `could not ${what} in address space ${this.name}: too many concurrent changes`, 'retry the command');
  }
}
