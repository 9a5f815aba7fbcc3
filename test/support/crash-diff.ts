import { isTsnetLinkName, linkName, shortId } from '../../src/core/ids.js';
import type { DockerState, KernelState, StoreState } from './crash-state.js';

/**
 * What disagrees between Docker, the kernel and tsnet's store, one line per object, each
 * naming the object and why it is wrong. Docker is the truth: what it does not have must not
 * exist anywhere else, and what it has must work.
 */
export interface Findings {
  /** tsnet-named links that belong to no network or running endpoint Docker has (or `tsnp-` ends left on the host). */
  readonly leakedLinks: string[];
  /** tsnet rules naming a network Docker lacks, bridges Docker lacks, or DNAT for no published port. */
  readonly leakedRules: string[];
  /** Store records of networks or endpoints Docker lacks, and records left `pending`. */
  readonly orphanRecords: string[];
  /** Unanswered markers older than the convergence. */
  readonly staleMarkers: string[];
  /** Pool references and addresses tsnet's IPAM holds that no Docker network uses. */
  readonly ipamLeaks: string[];
  /** Two running endpoints with one address on one network (Docker's or tsnet's view). */
  readonly duplicates: string[];
  /** What Docker has and tsnet lacks: a bridge, a veth, a record, a DNAT, an allocation. */
  readonly missing: string[];
}

export const FINDING_KINDS = ['leakedLinks', 'leakedRules', 'orphanRecords', 'staleMarkers', 'ipamLeaks', 'duplicates', 'missing'] as const;

export function emptyFindings(): Findings {
  return { leakedLinks: [], leakedRules: [], orphanRecords: [], staleMarkers: [], ipamLeaks: [], duplicates: [], missing: [] };
}

export function findingCount(f: Findings): number {
  return FINDING_KINDS.reduce((sum, kind) => sum + f[kind].length, 0);
}

export function describeFindings(f: Findings): string {
  return FINDING_KINDS.filter((k) => f[k].length > 0).map((k) => `${k} (${f[k].length}):\n${f[k].map((l) => `  - ${l}`).join('\n')}`).join('\n');
}

export interface DiffOptions {
  /** The driver and IPAM name Docker knows tsnet by. Default `tsnet`. */
  readonly name?: string;
  /** Markers written before this moment are stale; without it every marker is. */
  readonly markersBefore?: Date;
}

/** Plain address of a CIDR string or a plain one; "" stays "". */
function plain(address: string): string {
  return address.split('/')[0] ?? '';
}

/** Kernel against Docker: links and rules. */
export function diffKernel(docker: DockerState, kernel: KernelState, store: StoreState | undefined, options: DiffOptions = {}): Findings {
  const name = options.name ?? 'tsnet';
  const found = emptyFindings();
  const ours = docker.networks.filter((n) => n.driver === name);
  const bridges = new Map(ours.map((n) => [linkName('b', n.id), n]));
  const veths = new Map(ours.flatMap((n) => n.endpoints.map((e) => [linkName('v', e.endpointId), { network: n, endpoint: e }] as const)));
  // Who a leaked link belongs to, when the store still knows.
  const owners = new Map<string, string>();
  for (const n of store?.networks ?? []) owners.set(linkName('b', n.id), `store network ${shortId(n.id)} (${n.state})`);
  for (const e of store?.endpoints ?? []) {
    owners.set(linkName('v', e.id), `store endpoint ${shortId(e.id)} of network ${shortId(e.networkId)} (${e.state}${e.sandboxKey ? ', joined' : ''})`);
    owners.set(linkName('p', e.id), `container end of store endpoint ${shortId(e.id)}`);
  }
  const present = new Set(kernel.links);
  // Every tsn* link, not only the names tsnet generates: anything else by that prefix is a leak too.
  for (const link of kernel.links.filter((l) => l.startsWith('tsn'))) {
    if (bridges.has(link) || veths.has(link)) continue;
    const kind = link.startsWith('tsnp-') ? 'container end left in the host namespace' : isTsnetLinkName(link) ? 'no Docker network or running endpoint owns it' : 'a tsn* link of no kind tsnet makes';
    found.leakedLinks.push(`${link}: ${kind}; ${owners.get(link) ?? 'no store record names it'}`);
  }
  for (const [link, n] of bridges) if (!present.has(link)) found.missing.push(`bridge ${link} of Docker network ${n.name} (${shortId(n.id)}) is not in the kernel`);
  for (const [link, { network, endpoint }] of veths) {
    if (!present.has(link)) found.missing.push(`veth ${link} of endpoint ${shortId(endpoint.endpointId)} (container ${shortId(endpoint.containerId)}) on ${network.name} is not in the kernel`);
  }

  const ids = ours.map((n) => n.id);
  const expectedDnat = new Set<string>();
  for (const c of docker.containers.filter((x) => x.running)) {
    for (const attachment of c.networks) {
      if (!ids.includes(attachment.networkId) || !attachment.ip) continue;
      for (const p of c.ports) expectedDnat.add(`${p.proto}|${p.hostPort}|${attachment.ip}:${p.port}`);
    }
  }
  const seenDnat = new Set<string>();
  for (const rule of kernel.rules) {
    const comment = /tsnet:([0-9a-f]{12})/.exec(rule.line)?.[1];
    const where = `${rule.family === 4 ? 'iptables' : 'ip6tables'} -t ${rule.table} ${rule.line}`;
    if (comment && !ids.some((id) => id.startsWith(comment))) {
      const record = store?.networks.find((n) => n.id.startsWith(comment));
      found.leakedRules.push(`${where}: network ${comment} is not in Docker; ${record ? `store record ${record.state}` : 'no store record'}`);
      continue;
    }
    for (const link of rule.line.match(/tsn[bvpxmi]-[0-9a-f]{10}/g) ?? []) {
      if (!bridges.has(link) && !veths.has(link)) found.leakedRules.push(`${where}: names ${link}, which belongs to nothing Docker has`);
    }
    if (rule.line.includes('-j DNAT') && rule.line.startsWith('-A TSNET-')) {
      const dport = /--dport (\d+)/.exec(rule.line)?.[1];
      const proto = /-p (\w+)/.exec(rule.line)?.[1] ?? 'tcp';
      const to = /--to-destination (\S+)/.exec(rule.line)?.[1];
      const key = `${proto}|${dport}|${to}`;
      seenDnat.add(key);
      if (!expectedDnat.has(key)) found.leakedRules.push(`${where}: DNAT of host port ${dport}/${proto} to ${to}, which no running container publishes`);
    }
  }
  for (const key of expectedDnat) {
    if (!seenDnat.has(key)) {
      const [proto, hostPort, to] = key.split('|');
      found.missing.push(`no DNAT for published port ${hostPort}/${proto} → ${to}`);
    }
  }

  for (const n of docker.networks) {
    const byIp = new Map<string, string[]>();
    for (const e of n.endpoints) {
      for (const ip of [plain(e.ipv4), plain(e.ipv6)].filter(Boolean)) byIp.set(ip, [...(byIp.get(ip) ?? []), shortId(e.containerId)]);
    }
    for (const [ip, holders] of byIp) if (holders.length > 1) found.duplicates.push(`Docker network ${n.name}: ${ip} is held by containers ${holders.join(', ')}`);
  }
  return found;
}

/** tsnet's store against Docker: CNM records, markers, IPAM pools and addresses. */
export function diffStore(docker: DockerState, store: StoreState, options: DiffOptions = {}): Findings {
  const name = options.name ?? 'tsnet';
  const found = emptyFindings();
  const ours = new Map(docker.networks.filter((n) => n.driver === name).map((n) => [n.id, n]));
  for (const n of store.networks) {
    const pools = [...n.ipv4, ...n.ipv6].map((p) => p.pool).join(', ');
    if (!ours.has(n.id)) found.orphanRecords.push(`network ${n.id} (${pools}, ${n.state}, created ${n.createdAt}): Docker has no such network`);
    else if (n.state !== 'ready') found.orphanRecords.push(`network ${n.id} (${pools}) is still ${n.state}`);
  }
  for (const e of store.endpoints) {
    const network = ours.get(e.networkId);
    const what = `endpoint ${e.id} of network ${shortId(e.networkId)} (${e.address ?? 'no address'}, ${e.state}${e.sandboxKey ? ', joined' : ''}${e.ports.length ? `, ports ${e.ports.map((p) => p.hostPort).join(',')}` : ''}, created ${e.createdAt})`;
    if (!network) found.orphanRecords.push(`${what}: Docker has no such network`);
    else if (!network.endpoints.some((x) => x.endpointId === e.id)) found.orphanRecords.push(`${what}: no running container of Docker has it`);
    else if (e.state !== 'ready') found.orphanRecords.push(`${what}: still ${e.state}`);
  }
  for (const n of ours.values()) {
    if (!store.networks.some((r) => r.id === n.id)) found.missing.push(`Docker network ${n.name} (${shortId(n.id)}) has no tsnet record`);
    for (const e of n.endpoints) {
      if (!store.endpoints.some((r) => r.id === e.endpointId)) found.missing.push(`endpoint ${shortId(e.endpointId)} of container ${shortId(e.containerId)} on ${n.name} has no tsnet record`);
    }
  }
  for (const m of store.markers) {
    if (!options.markersBefore || Date.parse(m.at) < options.markersBefore.getTime()) {
      found.staleMarkers.push(`unanswered ${m.method} on ${m.endpointId ? `endpoint ${shortId(m.endpointId)} of ` : ''}network ${shortId(m.networkId)}, written ${m.at}`);
    }
  }
  for (const key of store.unknownKeys) found.orphanRecords.push(`store key ${key} is of no known kind`);

  // Two endpoint records with one address on one network.
  const byAddress = new Map<string, string[]>();
  for (const e of store.endpoints) {
    for (const a of [e.address, e.addressV6]) if (a) byAddress.set(`${e.networkId}|${plain(a)}`, [...(byAddress.get(`${e.networkId}|${plain(a)}`) ?? []), shortId(e.id)]);
  }
  for (const [key, holders] of byAddress) if (holders.length > 1) found.duplicates.push(`tsnet records on network ${shortId(key.split('|')[0] ?? '')}: ${key.split('|')[1]} is held by endpoints ${holders.join(', ')}`);

  // IPAM: every reference and address must be used by a Docker network with the tsnet IPAM.
  const ipamNets = docker.networks.filter((n) => n.ipamDriver === name);
  const usersOf = (pool: string) => ipamNets.filter((n) => n.subnets.some((s) => s.subnet === pool));
  for (const p of store.pools) {
    const refs = Object.values(p.refs).reduce((a, b) => a + b, 0);
    const users = usersOf(p.pool);
    if (refs > users.length) found.ipamLeaks.push(`${p.space} pool ${p.pool}: ${refs} reference(s) (${JSON.stringify(p.refs)}) but ${users.length} Docker network(s) use it${users.length ? ` (${users.map((u) => u.name).join(', ')})` : ''}`);
    if (refs < users.length) found.missing.push(`${p.space} pool ${p.pool}: ${refs} reference(s) but Docker networks ${users.map((u) => u.name).join(', ')} use it`);
  }
  for (const n of ipamNets) {
    for (const s of n.subnets) {
      if (!store.pools.some((p) => p.pool === s.subnet)) found.missing.push(`Docker network ${n.name} uses tsnet pool ${s.subnet}, which the store does not have`);
    }
  }
  // Docker's API shows a network's gateway only when the user gave --gateway; the gateway
  // Docker's IPAM request got is in the CreateNetwork that tsnet recorded (tsnet networks).
  const gatewaysOf = (n: (typeof ipamNets)[number]) => [
    ...n.subnets.map((s) => plain(s.gateway ?? '')),
    ...store.networks.filter((r) => r.id === n.id).flatMap((r) => [...r.ipv4, ...r.ipv6].map((p) => plain(p.gateway ?? ''))),
  ].filter(Boolean);
  for (const a of store.addresses) {
    const users = usersOf(a.pool);
    const shown = users.some((n) => gatewaysOf(n).includes(a.ip) || n.subnets.some((s) => s.subnet === a.pool && s.aux.map(plain).includes(a.ip))
      || n.endpoints.some((e) => plain(e.ipv4) === a.ip || plain(e.ipv6) === a.ip));
    if (!shown) found.ipamLeaks.push(`${a.space} address ${a.ip} in ${a.pool} (${a.kind}, host ${a.host}, since ${a.at}): no Docker network shows it`);
  }
  for (const n of ipamNets) {
    const held = (ip: string) => store.addresses.some((a) => a.ip === ip && n.subnets.some((s) => s.subnet === a.pool));
    for (const gateway of new Set(gatewaysOf(n))) if (!held(gateway)) found.missing.push(`gateway ${gateway} of Docker network ${n.name} is not allocated in the tsnet IPAM`);
    for (const e of n.endpoints) if (e.ipv4 && !held(plain(e.ipv4))) found.missing.push(`address ${plain(e.ipv4)} of container ${shortId(e.containerId)} on ${n.name} is not allocated in the tsnet IPAM`);
  }
  return found;
}

/** All findings together; a line found twice (e.g. before and after a restart) counts once. */
export function mergeFindings(...all: Findings[]): Findings {
  const merged = emptyFindings();
  for (const f of all) for (const kind of FINDING_KINDS) for (const line of f[kind]) if (!merged[kind].includes(line)) merged[kind].push(line);
  return merged;
}
