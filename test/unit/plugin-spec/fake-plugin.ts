import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatZodIssues } from '../../../plugin-spec/format.js';
import { isMethodName, methods, type MethodName } from '../../../plugin-spec/methods.js';

/**
 * The one rule a broken fake breaks; each is named after the conformance check that must catch it.
 * - echo-address: CreateEndpoint returns the Address (and MAC) Docker gave.
 * - err-not-error: an IPAM refusal on a 200 carries `Err` instead of `Error`.
 * - discover-404: DiscoverNew/DiscoverDelete answered 404.
 * - delete-not-idempotent: a second DeleteNetwork/DeleteEndpoint is refused.
 * - racy-addresses: automatic RequestAddress picks a free address, yields, then takes it.
 * - crash-on-unknown-fields: a request field it does not know answers 500.
 * - same-auto-pool: every Pool:"" RequestPool shares the first automatic pool.
 * - no-refcount: identical explicit RequestPool calls get separate pools.
 * - join-bad-reply: Join answers an InterfaceName whose SrcName is a number (Go cannot decode it).
 * - join-leaks-interface: DeleteEndpoint leaves the interface Join made.
 * - hang-on-oversized: a body over the limit is read and never answered.
 * - ignores-subpool: automatic addresses come from the whole pool, not from SubPool (--ip-range).
 * - hands-out-broadcast: an IPv4 pool's broadcast address is handed out.
 * - allows-overlap: a pool overlapping a held one (not identical) is granted.
 * - racy-join: Join names its interface from a counter it reads before yielding.
 * - ipv6-only-500: an IPv6-only CreateNetwork (IPv4Data: [], Docker 28+) answers 500 instead of a refusal.
 * - join-host-end: Join's SrcName is the end of the pair that is a port of the bridge.
 */
export type Break = 'echo-address' | 'err-not-error' | 'discover-404' | 'delete-not-idempotent' | 'racy-addresses'
  | 'crash-on-unknown-fields' | 'same-auto-pool' | 'no-refcount' | 'join-bad-reply' | 'join-leaks-interface'
  | 'hang-on-oversized' | 'ignores-subpool' | 'hands-out-broadcast' | 'allows-overlap' | 'racy-join' | 'ipv6-only-500' | 'join-host-end';

interface IpData { readonly AddressSpace?: string; readonly Pool: string; readonly Gateway?: string }
/** `offsets`: the host numbers (from the pool's base) automatic requests may take, in order. */
interface Pool { readonly id: string; readonly cidr: string; readonly space: string; refs: number; readonly used: Set<string>; readonly offsets: readonly [number, number] }

const KNOWN_FIELDS = new Set(['NetworkID', 'EndpointID', 'Options', 'IPv4Data', 'IPv6Data', 'Interface', 'SandboxKey',
  'DiscoveryType', 'DiscoveryData', 'AddressSpace', 'Pool', 'SubPool', 'V6', 'PoolID', 'Address']);
const LIMIT = 1024 * 1024;

/** Not breaks: ways of answering that dockerd accepts, which the kit must accept too. */
export interface FakeOptions {
  /**
   * Replies as Go encodes and decodes them, not as Docker spells them: struct keys in lower
   * case (Go matches them case-insensitively) and an unknown key in every object reply.
   */
  readonly goSpelling?: boolean;
}

const STRUCTS = new Set(['Interface', 'InterfaceName']);
/** Lower-cases the keys of the reply struct and its nested structs (not of maps such as Data); adds an unknown key. */
function goSpelling(reply: unknown): unknown {
  if (typeof reply !== 'object' || reply === null || Array.isArray(reply)) return reply;
  const entries = Object.entries(reply).map(([k, v]) => [k.toLowerCase(), STRUCTS.has(k) && v && typeof v === 'object' ? goSpelling(v) : v]);
  return Object.fromEntries([...entries, ['FieldOfAFutureDocker', { nested: true }]]);
}

/** The interface a fake Join makes for an endpoint. */
const linkName = (endpointKey: string) => `fake-${endpointKey.slice(-10)}`;

const v4 = (ip: string) => ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
/** An IPv4 CIDR as [first, last] address numbers. */
function span(cidr: string): [number, number] {
  const [ip = '', len = '32'] = cidr.split('/');
  const size = 2 ** (32 - Number(len));
  const first = Math.floor(v4(ip) / size) * size;
  return [first, first + size - 1];
}

/** The n-th host address of a pool: IPv4 by arithmetic, IPv6 as `<prefix>::<n in hex>` (enough for a /64). */
function host(cidr: string, n: number): string {
  const base = cidr.split('/')[0] ?? '';
  if (base.includes(':')) return `${base.replace(/::$/, '')}::${n.toString(16)}`;
  const value = base.split('.').reduce((acc, o) => acc * 256 + Number(o), 0) + n;
  return [24, 16, 8, 0].map((s) => Math.floor(value / 2 ** s) % 256).join('.');
}

/**
 * A plugin with real (in-memory) IPAM and network semantics, correct unless `breaks` says
 * otherwise. `links` stands for the kernel (interface name → the bridge it is a port of, if any):
 * Join adds its SrcName, DeleteEndpoint removes it.
 */
export function fakePluginHandler(breaks?: Break, links = new Map<string, string | undefined>(), options: FakeOptions = {}) {
  const pools = new Map<string, Pool>();
  /** Network id → the pools of this IPAM it uses. */
  const networks = new Map<string, string[]>();
  const endpoints = new Set<string>();
  let autoPools = 0;
  let macs = 0;
  let joins = 0;
  /** Endpoint → the interface its Join made. */
  const joined = new Map<string, string>();

  /** Host numbers automatic requests may take: the SubPool's, never the network or broadcast address. */
  function offsetsOf(cidr: string, subPool: string): [number, number] {
    if (cidr.includes(':')) return [1, 250];
    const [first, last] = span(cidr);
    const top = breaks === 'hands-out-broadcast' ? last : last - 1;
    if (!subPool || breaks === 'ignores-subpool') return [1, top - first];
    const [subFirst, subLast] = span(subPool);
    return [Math.max(1, subFirst - first), Math.min(top, subLast) - first];
  }

  async function requestAddress(pool: Pool, wanted: string, refuse: (m: string) => unknown): Promise<unknown> {
    const len = pool.cidr.split('/')[1];
    if (wanted) {
      if (pool.used.has(wanted)) return refuse(`address ${wanted} is already in use in ${pool.cidr}`);
      pool.used.add(wanted);
      return { Address: `${wanted}/${len}`, Data: {} };
    }
    for (let n = pool.offsets[0]; n <= pool.offsets[1]; n++) {
      const candidate = host(pool.cidr, n);
      if (pool.used.has(candidate)) continue;
      if (breaks === 'racy-addresses') await new Promise((r) => setTimeout(r, 5));
      pool.used.add(candidate);
      return { Address: `${candidate}/${len}`, Data: {} };
    }
    return refuse(`pool ${pool.cidr} is full`);
  }

  async function handle(method: MethodName, body: Record<string, unknown>): Promise<[number, unknown]> {
    const ipamRefusal = (message: string) => (breaks === 'err-not-error' ? { Err: message } : { Error: message });
    const netKey = String(body.NetworkID);
    const epKey = `${netKey}/${String(body.EndpointID)}`;
    switch (method) {
      case 'Plugin.Activate': return [200, { Implements: ['NetworkDriver', 'IpamDriver'] }];
      case 'NetworkDriver.GetCapabilities': return [200, { Scope: 'local', ConnectivityScope: 'local', GwAllocChecker: true }];
      case 'NetworkDriver.CreateNetwork': {
        if (breaks === 'ipv6-only-500' && Array.isArray(body.IPv4Data) && body.IPv4Data.length === 0) return [500, { Err: 'TypeError: cannot read IPv4Data[0]' }];
        // Pools and gateways from this IPAM must be ones it handed out: proves a replay substitutes them.
        const data = [...((body.IPv4Data ?? []) as IpData[]), ...((body.IPv6Data ?? []) as IpData[])].filter((d) => d.AddressSpace === 'fake-local');
        const unknown = data.find((d) => ![...pools.values()].some((p) => p.cidr === d.Pool && (!d.Gateway || p.used.has(d.Gateway.split('/')[0] ?? ''))));
        if (unknown) return [200, { Err: `pool ${unknown.Pool} with gateway ${unknown.Gateway ?? '-'} was not handed out by this IPAM` }];
        networks.set(netKey, data.map((d) => d.Pool));
        return [200, {}];
      }
      case 'NetworkDriver.DeleteNetwork':
        if (!networks.delete(netKey) && breaks === 'delete-not-idempotent') return [200, { Err: `network ${netKey} not found` }];
        return [200, {}];
      case 'NetworkDriver.CreateEndpoint': {
        const given = (body.Interface ?? {}) as Record<string, string>;
        const ip = given.Address?.split('/')[0];
        const ownPools = [...pools.values()].filter((p) => networks.get(netKey)?.includes(p.cidr));
        if (ip && ownPools.length > 0 && !ownPools.some((p) => p.used.has(ip))) return [200, { Err: `address ${ip} was not handed out by this IPAM` }];
        endpoints.add(epKey);
        if (breaks === 'echo-address') return [200, { Interface: { Address: given.Address, MacAddress: given.MacAddress || '02:42:00:00:00:01' } }];
        return [200, given.MacAddress ? {} : { Interface: { MacAddress: `02:42:00:00:00:${(++macs % 256).toString(16).padStart(2, '0')}` } }];
      }
      case 'NetworkDriver.DeleteEndpoint':
        if (breaks !== 'join-leaks-interface') links.delete(joined.get(epKey) ?? '');
        if (!endpoints.delete(epKey) && breaks === 'delete-not-idempotent') return [200, { Err: `endpoint ${epKey} not found` }];
        return [200, {}];
      case 'NetworkDriver.Join': {
        let name = linkName(epKey);
        if (breaks === 'racy-join') {
          const n = joins;
          await new Promise((r) => setTimeout(r, 5));
          joins = n + 1;
          name = `fake-j${n}`;
        }
        // A correct plugin hands over the container's end (no master); the broken one its bridge port.
        links.set(name, breaks === 'join-host-end' ? 'fakebr0' : undefined);
        joined.set(epKey, name);
        return [200, { InterfaceName: { SrcName: breaks === 'join-bad-reply' ? 5 : name, DstPrefix: 'eth' } }];
      }
      case 'NetworkDriver.EndpointOperInfo': return [200, { Value: {} }];
      case 'NetworkDriver.DiscoverNew':
      case 'NetworkDriver.DiscoverDelete':
        return breaks === 'discover-404' ? [404, { Err: `${method} not implemented` }] : [200, {}];
      case 'IpamDriver.GetCapabilities': return [200, { RequiresMACAddress: false }];
      case 'IpamDriver.GetDefaultAddressSpaces': return [200, { LocalDefaultAddressSpace: 'fake-local', GlobalDefaultAddressSpace: 'fake-global' }];
      case 'IpamDriver.RequestPool': {
        let cidr = String(body.Pool ?? '');
        if (!cidr) cidr = `10.196.${breaks === 'same-auto-pool' ? 0 : autoPools++}.0/24`;
        const id = `${String(body.AddressSpace)}/${cidr}/${String(body.SubPool ?? '')}${breaks === 'no-refcount' ? `#${autoPools++}` : ''}`;
        const space = String(body.AddressSpace);
        const clash = cidr.includes(':') || breaks === 'allows-overlap' ? undefined : [...pools.values()].find((p) => {
          if (p.space !== space || p.cidr === cidr || p.cidr.includes(':')) return false;
          const [a, b] = span(p.cidr);
          const [c, d] = span(cidr);
          return a <= d && c <= b;
        });
        if (clash) return [200, { Error: `pool ${cidr} overlaps pool ${clash.cidr} in address space ${space}` }];
        const pool = pools.get(id) ?? { id, cidr, space, refs: 0, used: new Set<string>(), offsets: offsetsOf(cidr, String(body.SubPool ?? '')) };
        pool.refs += 1;
        pools.set(id, pool);
        return [200, { PoolID: id, Pool: cidr, Data: {} }];
      }
      case 'IpamDriver.ReleasePool': {
        const pool = pools.get(String(body.PoolID));
        if (pool && --pool.refs === 0) pools.delete(pool.id);
        return [200, {}];
      }
      case 'IpamDriver.RequestAddress': {
        const pool = pools.get(String(body.PoolID));
        if (!pool) return [200, ipamRefusal(`pool ${String(body.PoolID)} does not exist`)];
        return [200, await requestAddress(pool, String(body.Address ?? ''), ipamRefusal)];
      }
      case 'IpamDriver.ReleaseAddress': pools.get(String(body.PoolID))?.used.delete(String(body.Address)); return [200, {}];
      default: return [200, {}];
    }
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    const send = (status: number, reply: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/vnd.docker.plugins.v1+json' });
      res.end(JSON.stringify(options.goSpelling ? goSpelling(reply) : reply));
    };
    const method = (req.url ?? '/').slice(1);
    if (Number(req.headers['content-length'] ?? 0) > LIMIT) {
      if (breaks === 'hang-on-oversized') { req.resume(); return; }
      send(413, { Err: `request body is larger than ${LIMIT} bytes` });
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (!isMethodName(method)) return send(404, { Err: `fake does not implement ${method}` });
      let body: unknown;
      try {
        const text = Buffer.concat(chunks).toString('utf8');
        body = text.trim() === '' ? undefined : JSON.parse(text);
      } catch (err) {
        return send(400, { Err: `request body is not JSON: ${(err as Error).message}` });
      }
      const parsed = methods[method].request.safeParse(body);
      if (!parsed.success) return send(400, { Err: `${method}: ${formatZodIssues(parsed.error)}` });
      const fields = typeof body === 'object' && body !== null ? Object.keys(body) : [];
      if (breaks === 'crash-on-unknown-fields' && !methods[method].noArguments && fields.some((f) => !KNOWN_FIELDS.has(f))) {
        return send(500, { Err: 'panic: unknown field' });
      }
      handle(method, (body ?? {}) as Record<string, unknown>).then(([status, reply]) => send(status, reply), (err: Error) => send(500, { Err: err.message }));
    });
  };
}

/** A fake plugin listening on a unix socket in a fresh temp dir; `close` removes both. */
export async function startFakePlugin(breaks?: Break, options: FakeOptions = {}): Promise<{ socketPath: string; links: Map<string, string | undefined>; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'tsnet-fake-plugin-'));
  const socketPath = join(dir, 'fake.sock');
  const links = new Map<string, string | undefined>();
  const server = createServer(fakePluginHandler(breaks, links, options));
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    links,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
