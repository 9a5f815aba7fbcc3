import { RETRY, casRetry } from '../../kvstore/cas.js';
import type { KvCompare, KvStore, KvWrite, LeaseId } from '../../kvstore/kvstore.js';
import { TsnetError, tsnetError } from '../../src/core/errors.js';
import { MAX_VNI, type OverlaySpec } from './options.js';

/**
 * Automatic VNIs start here, clear of Docker's own overlay (swarm's ingress and its networks),
 * which counts up from 4096 on the same UDP port, 4789: the kernel refuses a VXLAN device whose
 * VNI another device already uses on its port, so a tsnet overlay on a swarm node would fail.
 * Users who pick their own (-o tsnet.vni) may use any VNI.
 */
export const FIRST_AUTO_VNI = 1_000_000;

/** Writes per republish transaction, the VTEP's included: under etcd's default limit of 128 operations (--max-txn-ops). */
export const REPUBLISH_BATCH_PUTS = 120;

/** An overlay as recorded in etcd by the first host that created it. */
export interface OverlayDefinition {
  readonly name: string;
  readonly vni: number;
  readonly port: number;
  /** Only if the user set one; otherwise each host derives it from its underlay. */
  readonly mtu?: number;
  readonly subnets: readonly string[];
  readonly internal: boolean;
  /** Hosts that have this overlay, with their local Docker network id. */
  readonly hosts: Readonly<Record<string, string>>;
  readonly createdBy: string;
  readonly createdAt: string;
}

export interface PublishedEndpoint {
  readonly id: string;
  readonly host: string;
  readonly mac: string;
  readonly ips: readonly string[];
  /**
   * The DNS names of the endpoint's container on this overlay (name, aliases), learned from the
   * Docker API after the container started: absent until then. Kept in the endpoint's own record,
   * so they are published under the host's lease and withdrawn with the endpoint, in one step.
   */
  readonly names?: readonly string[];
}

export interface PublishedVtep {
  readonly host: string;
  readonly address: string;
}

export const overlayKeys = {
  definition: (name: string) => `overlay/v1/def/${name}`,
  vni: (vni: number) => `overlay/v1/vni/${vni}`,
  vnis: 'overlay/v1/vni/',
  /** Everything a host must watch for one overlay lives under this prefix. */
  network: (name: string) => `overlay/v1/net/${name}/`,
  endpoint: (name: string, id: string) => `overlay/v1/net/${name}/ep/${id}`,
  vtep: (name: string, host: string) => `overlay/v1/net/${name}/vtep/${host}`,
  address: (name: string, ip: string) => `overlay/v1/net/${name}/addr/${ip}`,
};

/**
 * The overlay state shared by hosts in etcd: definitions, VNIs, VTEPs and endpoints. Every
 * change is a compare-and-swap, so two hosts creating the same overlay agree on one VNI, two
 * overlays never share a VNI, and an address is claimed by one endpoint only.
 */
export class OverlayRegistry {
  constructor(private readonly store: KvStore, readonly hostId: string) {}

  /** Records the overlay (first host) or joins it, refusing options that disagree. */
  async join(spec: OverlaySpec & { subnets: readonly string[]; internal: boolean; defaultPort: number }, networkId: string): Promise<OverlayDefinition> {
    const key = overlayKeys.definition(spec.name);
    return casRetry(async () => {
      const entry = await this.store.get(key);
      if (entry) {
        const def = JSON.parse(entry.value) as OverlayDefinition;
        checkSameOverlay(def, spec);
        const next: OverlayDefinition = { ...def, hosts: { ...def.hosts, [this.hostId]: networkId } };
        return (await this.store.txn([{ key, kind: 'mod-revision', revision: entry.modRevision }], [{ type: 'put', key, value: JSON.stringify(next) }])).succeeded ? next : RETRY;
      }
      const vni = spec.vni ?? (await this.freeVni());
      const def: OverlayDefinition = {
        name: spec.name, vni, port: spec.port ?? spec.defaultPort, mtu: spec.mtu, subnets: [...spec.subnets].sort(), internal: spec.internal,
        hosts: { [this.hostId]: networkId }, createdBy: this.hostId, createdAt: new Date().toISOString(),
      };
      const created = await this.store.txn([{ key, kind: 'absent' }, { key: overlayKeys.vni(vni), kind: 'absent' }], [
        { type: 'put', key, value: JSON.stringify(def) },
        { type: 'put', key: overlayKeys.vni(vni), value: spec.name },
      ]);
      if (created.succeeded) return def;
      const holder = await this.store.get(overlayKeys.vni(vni));
      if (spec.vni !== undefined && holder && holder.value !== spec.name) {
        throw tsnetError('TSNET_OVERLAY_VNI_TAKEN', `VNI ${vni} is already used by overlay ${holder.value}`, 'choose another -o tsnet.vni=N, or leave it out to get a free one');
      }
      return RETRY;
    }, () => contended('join the overlay'));
  }

  /** Removes this host; the last host out deletes the overlay and frees its VNI. */
  async leave(name: string): Promise<void> {
    const key = overlayKeys.definition(name);
    await casRetry(async () => {
      const entry = await this.store.get(key);
      if (!entry) return;
      const def = JSON.parse(entry.value) as OverlayDefinition;
      const hosts = { ...def.hosts };
      delete hosts[this.hostId];
      const writes = Object.keys(hosts).length > 0
        ? [{ type: 'put' as const, key, value: JSON.stringify({ ...def, hosts }) }]
        : [{ type: 'delete' as const, key }, { type: 'delete' as const, key: overlayKeys.vni(def.vni) }, { type: 'delete-prefix' as const, prefix: overlayKeys.network(name) }];
      return (await this.store.txn([{ key, kind: 'mod-revision', revision: entry.modRevision }], writes)).succeeded ? undefined : RETRY;
    }, () => contended('leave the overlay'));
  }

  async unpublishVtep(name: string): Promise<void> {
    await this.store.delete(overlayKeys.vtep(name, this.hostId));
  }

  /**
   * Publishes an endpoint and claims its addresses on the overlay in one transaction, with this
   * host's VTEP (`vtep`) when given. An address another endpoint holds is refused: that only
   * happens when the overlay is paired with an IPAM whose pool is not shared, and the error says
   * so. The first attempt assumes the addresses are free, as they are for every new container:
   * one etcd round trip on the path of `docker run`; the holders are read only when it fails,
   * or first with `again` (a republish, whose claims are usually there already).
   */
  async publishEndpoint(name: string, endpoint: Omit<PublishedEndpoint, 'host'>, lease: LeaseId, { vtep, again = false }: { vtep?: string; again?: boolean } = {}): Promise<void> {
    const published: PublishedEndpoint = { ...endpoint, host: this.hostId };
    const claim = this.claimOf(endpoint.id);
    const vtepWrites = vtep ? [this.vtepWrite(name, vtep, lease)] : [];
    await casRetry(async (attempt) => {
      const holders = attempt === 0 && !again ? endpoint.ips.map(() => undefined) : await Promise.all(endpoint.ips.map((ip) => this.store.get(overlayKeys.address(name, ip))));
      const taken = holders.find((h) => h && (JSON.parse(h.value) as { endpoint: string }).endpoint !== endpoint.id);
      if (taken) {
        const other = JSON.parse(taken.value) as { endpoint: string; host: string };
        throw tsnetError('TSNET_OVERLAY_ADDR_TAKEN', `address ${taken.key.split('/').pop()} is already used on overlay ${name} by endpoint ${other.endpoint.slice(0, 12)} on host ${other.host}`,
          'create the network with --ipam-driver tsnet --ipam-opt tsnet.scope=global on every host, so addresses come from one shared pool');
      }
      const compares = endpoint.ips.map((ip, i) => {
        const h = holders[i];
        return h ? { key: h.key, kind: 'mod-revision' as const, revision: h.modRevision } : { key: overlayKeys.address(name, ip), kind: 'absent' as const };
      });
      const writes = [
        ...endpoint.ips.map((ip) => ({ type: 'put' as const, key: overlayKeys.address(name, ip), value: claim, lease })),
        { type: 'put' as const, key: overlayKeys.endpoint(name, endpoint.id), value: JSON.stringify(published), lease },
        ...vtepWrites,
      ];
      return (await this.store.txn(compares, writes)).succeeded ? undefined : RETRY;
    }, () => contended('publish the endpoint'));
  }

  /**
   * Publishes endpoints that were published before (a restart, a new lease) in a few
   * transactions instead of one each: the overlay's claims are read once, and each transaction
   * writes up to {@link REPUBLISH_BATCH_PUTS} keys on the condition that every claim it covers is
   * still as read. Returns the endpoints it did not publish, for {@link publishEndpoint} one by
   * one: those whose address another endpoint holds (which refuses them, saying why) and those
   * of a transaction that lost a race.
   */
  async republishEndpoints(name: string, endpoints: ReadonlyArray<Omit<PublishedEndpoint, 'host'>>, lease: LeaseId, vtep: string): Promise<Array<Omit<PublishedEndpoint, 'host'>>> {
    const claims = new Map((await this.store.list(`${overlayKeys.network(name)}addr/`)).map((entry) => [entry.key, entry]));
    const vtepWrite = this.vtepWrite(name, vtep, lease);
    const leftOver: Array<Omit<PublishedEndpoint, 'host'>> = [];
    let batch: { endpoints: Array<Omit<PublishedEndpoint, 'host'>>; compares: KvCompare[]; writes: KvWrite[] } | undefined;
    const send = async () => {
      if (batch && !(await this.store.txn(batch.compares, [...batch.writes, vtepWrite])).succeeded) leftOver.push(...batch.endpoints);
      batch = undefined;
    };
    for (const endpoint of endpoints) {
      const claim = this.claimOf(endpoint.id);
      const keys = endpoint.ips.map((ip) => overlayKeys.address(name, ip));
      if (keys.some((key) => { const held = claims.get(key); return held !== undefined && held.value !== claim; })) {
        leftOver.push(endpoint);
        continue;
      }
      if (batch && batch.writes.length + keys.length + 2 > REPUBLISH_BATCH_PUTS) await send(); // + the endpoint and the VTEP
      batch ??= { endpoints: [], compares: [], writes: [] };
      batch.endpoints.push(endpoint);
      for (const key of keys) {
        const held = claims.get(key);
        batch.compares.push(held ? { key, kind: 'mod-revision', revision: held.modRevision } : { key, kind: 'absent' });
        batch.writes.push({ type: 'put', key, value: claim, lease });
      }
      batch.writes.push({ type: 'put', key: overlayKeys.endpoint(name, endpoint.id), value: JSON.stringify({ ...endpoint, host: this.hostId } satisfies PublishedEndpoint), lease });
    }
    await send();
    return leftOver;
  }

  /** The DNS names this host's endpoints have in etcd now (endpoint id → names), for one overlay. */
  async publishedNames(name: string): Promise<Map<string, readonly string[]>> {
    const names = new Map<string, readonly string[]>();
    for (const entry of await this.store.list(`${overlayKeys.network(name)}ep/`)) {
      const published = JSON.parse(entry.value) as PublishedEndpoint;
      if (published.host === this.hostId && published.names?.length) names.set(published.id, published.names);
    }
    return names;
  }

  /**
   * Sets the DNS names of a published endpoint. A compare-and-swap on the endpoint's record, so
   * names never bring back an endpoint that was withdrawn meanwhile (false then).
   */
  async nameEndpoint(name: string, endpointId: string, names: readonly string[], lease: LeaseId): Promise<boolean> {
    const key = overlayKeys.endpoint(name, endpointId);
    return casRetry(async () => {
      const entry = await this.store.get(key);
      if (!entry) return false;
      const published = JSON.parse(entry.value) as PublishedEndpoint;
      if (sameNames(published.names, names)) return true;
      const next: PublishedEndpoint = { ...published, names: [...names] };
      return (await this.store.txn([{ key, kind: 'mod-revision', revision: entry.modRevision }], [{ type: 'put', key, value: JSON.stringify(next), lease }])).succeeded ? true : RETRY;
    }, () => contended('name the endpoint'));
  }

  /**
   * Withdraws an endpoint and its address claims, and this host's VTEP with `withdrawVtep` (its
   * last endpoint on the overlay). One transaction when every claim is still the endpoint's own,
   * as it is unless an address was taken over; otherwise claim by claim.
   */
  async unpublishEndpoint(name: string, endpoint: { id: string; ips: readonly string[] }, withdrawVtep = false): Promise<void> {
    const claim = this.claimOf(endpoint.id);
    const own = [
      { type: 'delete' as const, key: overlayKeys.endpoint(name, endpoint.id) },
      ...(withdrawVtep ? [{ type: 'delete' as const, key: overlayKeys.vtep(name, this.hostId) }] : []),
    ];
    const claims = endpoint.ips.map((ip) => overlayKeys.address(name, ip));
    const atOnce = await this.store.txn(claims.map((key) => ({ key, kind: 'value' as const, value: claim })), [...own, ...claims.map((key) => ({ type: 'delete' as const, key }))]);
    if (atOnce.succeeded) return;
    await this.store.txn([], own);
    for (const ip of endpoint.ips) {
      // Only our own claim is removed: the address may already belong to someone else.
      await this.store.txn([{ key: overlayKeys.address(name, ip), kind: 'value', value: claim }], [{ type: 'delete', key: overlayKeys.address(name, ip) }]);
    }
  }

  /** The value of an address claim by one of this host's endpoints (compared as written). */
  private claimOf(endpointId: string): string {
    return JSON.stringify({ endpoint: endpointId, host: this.hostId });
  }

  private vtepWrite(name: string, address: string, lease: LeaseId): KvWrite {
    return { type: 'put', key: overlayKeys.vtep(name, this.hostId), value: JSON.stringify({ host: this.hostId, address } satisfies PublishedVtep), lease };
  }

  private async freeVni(): Promise<number> {
    const used = new Set((await this.store.list(overlayKeys.vnis)).map((e) => Number(e.key.slice(overlayKeys.vnis.length))));
    for (let vni = FIRST_AUTO_VNI; vni <= MAX_VNI; vni++) if (!used.has(vni)) return vni;
    throw tsnetError('TSNET_OVERLAY_NO_VNI', 'every VNI is in use', 'remove unused overlay networks');
  }
}

function checkSameOverlay(def: OverlayDefinition, spec: OverlaySpec & { subnets: readonly string[]; internal: boolean; defaultPort: number }): void {
  const asked = { subnets: [...spec.subnets].sort().join(','), vni: spec.vni ?? def.vni, port: spec.port ?? def.port, mtu: spec.mtu ?? def.mtu, internal: spec.internal };
  const recorded = { subnets: def.subnets.join(','), vni: def.vni, port: def.port, mtu: def.mtu, internal: def.internal };
  const differs = (Object.keys(asked) as Array<keyof typeof asked>).filter((k) => asked[k] !== recorded[k]);
  if (differs.length === 0) return;
  const show = (o: Record<string, unknown>) => differs.map((k) => `${k}=${o[k] === undefined ? '(unset)' : String(o[k])}`).join(' ');
  throw tsnetError('TSNET_OVERLAY_MISMATCH', `overlay ${def.name} exists (created by host ${def.createdBy}) with ${show(recorded)}, but this host asked for ${show(asked)}`,
    'create it with the same --subnet and -o options on every host, or pick another -o tsnet.overlay.name');
}

function sameNames(a: readonly string[] | undefined, b: readonly string[]): boolean {
  return (a ?? []).length === b.length && (a ?? []).every((n, i) => n === b[i]);
}

function contended(what: string): TsnetError {
  return new TsnetError('TSNET_OVERLAY_CONTENDED', `could not ${what}: too many concurrent changes in etcd`, 'retry the command');
}
