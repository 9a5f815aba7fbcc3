import type { KvEntry } from '../../kvstore/kvstore.js';
import { openFileKvStore } from '../../kvstore/local/index.js';
import { recover } from '../../kvstore/local/recovery.js';
import type { EndpointRecord, NetworkRecord } from '../../src/core/model.js';
import type { SimulatedHost } from './dockerd.js';

/**
 * The three views a crash test compares: what Docker has (its API, through the 20.10 client),
 * what the kernel of the simulated host has (links, iptables and ip6tables rules), and what
 * tsnet's store holds. Each is read as plain data so that crash-diff.ts can compare them
 * without touching anything.
 */

/** One Docker network, as `docker network inspect` shows it. */
export interface DockerNet {
  readonly id: string;
  readonly name: string;
  readonly driver: string;
  readonly ipamDriver: string;
  readonly subnets: ReadonlyArray<{ readonly subnet: string; readonly gateway?: string; readonly aux: readonly string[] }>;
  /** Endpoints attached to running containers (Docker lists no others). */
  readonly endpoints: ReadonlyArray<{ readonly containerId: string; readonly endpointId: string; readonly ipv4: string; readonly ipv6: string }>;
}

/** One container, as `docker inspect` shows it. */
export interface DockerContainer {
  readonly id: string;
  readonly name: string;
  readonly running: boolean;
  readonly networks: ReadonlyArray<{ readonly name: string; readonly networkId: string; readonly endpointId: string; readonly ip: string }>;
  /** Requested publications (HostConfig.PortBindings): a remote driver's are not reported back. */
  readonly ports: ReadonlyArray<{ readonly port: number; readonly proto: string; readonly hostIp: string; readonly hostPort: number }>;
}

export interface DockerState {
  readonly networks: readonly DockerNet[];
  readonly containers: readonly DockerContainer[];
}

export interface KernelRule {
  readonly family: 4 | 6;
  readonly table: string;
  /** The rule as `iptables-save` prints it (`-A CHAIN …`). */
  readonly line: string;
}

export interface KernelState {
  readonly links: readonly string[];
  readonly rules: readonly KernelRule[];
}

/** An "unanswered" marker: the creating call of this record never got its reply to Docker. */
export interface StoreMarker {
  readonly networkId: string;
  readonly endpointId?: string;
  readonly method: string;
  readonly at: string;
}

export interface StorePool {
  readonly space: string;
  readonly pool: string;
  /** Pool references per host id. */
  readonly refs: Readonly<Record<string, number>>;
}

export interface StoreAddress {
  readonly space: string;
  readonly pool: string;
  readonly ip: string;
  readonly host: string;
  readonly at: string;
  readonly kind: string;
}

/** What tsnet's local store holds, parsed. */
export interface StoreState {
  readonly networks: readonly NetworkRecord[];
  readonly endpoints: readonly EndpointRecord[];
  readonly markers: readonly StoreMarker[];
  readonly pools: readonly StorePool[];
  readonly addresses: readonly StoreAddress[];
  /** Keys under the two prefixes that none of the above explains (reported, never expected). */
  readonly unknownKeys: readonly string[];
}

const CNM_PREFIX = 'tsnet/v1/local/';
const IPAM_PREFIX = 'ipam/v1/';

/** Runs a read-only docker command and parses its JSON output, retrying while objects come and go. */
async function inspectAll<T>(host: SimulatedHost, kind: 'network' | 'container'): Promise<T[]> {
  for (let attempt = 0; ; attempt++) {
    const listed = kind === 'network'
      ? await host.docker(['network', 'ls', '-q', '--no-trunc'], { timeoutMs: 30_000 })
      : await host.docker(['ps', '-aq', '--no-trunc'], { timeoutMs: 30_000 });
    const ids = listed.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
    if (ids.length === 0) return [];
    const inspected = await host.docker(kind === 'network' ? ['network', 'inspect', ...ids] : ['inspect', '--type', 'container', ...ids], { allowFail: true, timeoutMs: 30_000 });
    // An object removed between the list and the inspect fails the whole inspect: look again.
    if (inspected.code === 0) return JSON.parse(inspected.stdout) as T[];
    if (attempt >= 5) throw new Error(`docker ${kind} inspect kept failing: ${inspected.stderr.trim()}`);
  }
}

interface NetworkJson {
  Id: string;
  Name: string;
  Driver: string;
  IPAM?: { Driver?: string; Config?: Array<{ Subnet?: string; Gateway?: string; AuxiliaryAddresses?: Record<string, string> | null }> | null };
  Containers?: Record<string, { EndpointID?: string; IPv4Address?: string; IPv6Address?: string }> | null;
}

interface ContainerJson {
  Id: string;
  Name: string;
  State?: { Running?: boolean };
  HostConfig?: { PortBindings?: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | null };
  NetworkSettings?: { Networks?: Record<string, { NetworkID?: string; EndpointID?: string; IPAddress?: string }> | null };
}

export async function observeDocker(host: SimulatedHost): Promise<DockerState> {
  const networks = (await inspectAll<NetworkJson>(host, 'network')).map((n): DockerNet => ({
    id: n.Id,
    name: n.Name,
    driver: n.Driver,
    ipamDriver: n.IPAM?.Driver ?? '',
    subnets: (n.IPAM?.Config ?? []).filter((c) => c.Subnet).map((c) => ({ subnet: c.Subnet as string, gateway: c.Gateway || undefined, aux: Object.values(c.AuxiliaryAddresses ?? {}) })),
    endpoints: Object.entries(n.Containers ?? {}).map(([containerId, c]) => ({ containerId, endpointId: c.EndpointID ?? '', ipv4: c.IPv4Address ?? '', ipv6: c.IPv6Address ?? '' })),
  }));
  const containers = (await inspectAll<ContainerJson>(host, 'container')).map((c): DockerContainer => ({
    id: c.Id,
    name: c.Name.replace(/^\//, ''),
    running: c.State?.Running === true,
    networks: Object.entries(c.NetworkSettings?.Networks ?? {}).map(([name, n]) => ({ name, networkId: n.NetworkID ?? '', endpointId: n.EndpointID ?? '', ip: n.IPAddress ?? '' })),
    ports: Object.entries(c.HostConfig?.PortBindings ?? {}).flatMap(([spec, bindings]) => {
      const [port, proto = 'tcp'] = spec.split('/');
      return (bindings ?? []).map((b) => ({ port: Number(port), proto, hostIp: b.HostIp ?? '', hostPort: Number(b.HostPort || 0) }));
    }),
  }));
  return { networks, containers };
}

/** Links of the host namespace, and every rule of iptables and ip6tables (all tables). */
export async function observeKernel(host: SimulatedHost): Promise<KernelState> {
  const links = (await host.exec(['ip', '-o', 'link', 'show'])).stdout.split('\n')
    .map((l) => l.split(': ')[1]?.split('@')[0] ?? '').filter(Boolean);
  const rules: KernelRule[] = [];
  for (const [family, program] of [[4, 'iptables-save'], [6, 'ip6tables-save']] as const) {
    let table = '';
    for (const line of (await host.exec([program])).stdout.split('\n')) {
      if (line.startsWith('*')) table = line.slice(1).trim();
      else if (line.startsWith('-A ')) rules.push({ family, table, line });
    }
  }
  return { links, rules };
}

/**
 * Reads the store's files without opening it (no lock, no write), while tsnet runs: a snapshot
 * plus the intact prefix of the log. Good enough to poll for convergence; the verdict of a
 * round comes from {@link readStoreStopped}.
 */
export async function readStoreFiles(stateDir: string): Promise<StoreState> {
  const { image } = await recover(stateDir);
  return parseStore([...image.state.list(CNM_PREFIX), ...image.state.list(IPAM_PREFIX)]);
}

/**
 * Opens the store of a stopped tsnet with the file store itself (which takes the directory's
 * lock, so a running daemon would make this fail rather than race), lists it, and closes it.
 */
export async function readStoreStopped(stateDir: string): Promise<StoreState> {
  const store = await openFileKvStore({ dir: stateDir });
  try {
    return parseStore([...(await store.list(CNM_PREFIX)), ...(await store.list(IPAM_PREFIX))]);
  } finally {
    await store.close();
  }
}

export function parseStore(entries: readonly KvEntry[]): StoreState {
  const networks: NetworkRecord[] = [];
  const endpoints: EndpointRecord[] = [];
  const markers: StoreMarker[] = [];
  const pools: StorePool[] = [];
  const addresses: StoreAddress[] = [];
  const unknownKeys: string[] = [];
  for (const { key, value } of entries) {
    if (key.startsWith(CNM_PREFIX)) {
      const [kind, ...rest] = key.slice(CNM_PREFIX.length).split('/');
      if (kind === 'network') networks.push(JSON.parse(value) as NetworkRecord);
      else if (kind === 'endpoint') endpoints.push(JSON.parse(value) as EndpointRecord);
      else if (kind === 'unanswered') {
        const call = JSON.parse(value) as { method: string; at: string };
        markers.push({ networkId: rest[0] ?? '', endpointId: rest[1], method: call.method, at: call.at });
      } else if (kind !== 'docker-identity') unknownKeys.push(key);
      continue;
    }
    // ipam/v1/<space>/<kind>/<pool key>[/<ip>]
    const [space = '', kind, poolKey = '', ip] = key.slice(IPAM_PREFIX.length).split('/');
    const pool = poolKey.replace('_', '/');
    if (kind === 'pools') {
      const record = JSON.parse(value) as { pool: string; refs: Record<string, number> };
      pools.push({ space, pool: record.pool, refs: record.refs });
    } else if (kind === 'addr' && ip) {
      const record = JSON.parse(value) as { host: string; at: string; kind: string };
      addresses.push({ space, pool, ip, host: record.host, at: record.at, kind: record.kind });
    } else if (!['pools-version', 'cursor', 'gw'].includes(kind ?? '')) {
      unknownKeys.push(key);
    }
  }
  return { networks, endpoints, markers, pools, addresses, unknownKeys };
}
