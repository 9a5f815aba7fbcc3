import { randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { engineCall, engineMessage, engineOk } from './engine.js';
import type { LinkList, LinkLister } from './links.js';

/** The subnet of the real-Docker mode's network (the kit's other checks use 10.197/16 and 10.199/16). */
export const DOCKER_MODE_SUBNET = '10.198.0.0/24';
/** The network's IPv6 subnet when it is dual-stack (a ULA of the kit's own; tsnet's tests use fd00:…). */
export const DOCKER_MODE_SUBNET6 = 'fd5c:6e65:7443::/64';
/** The port container 1 listens on, and the one it is published on at 127.0.0.1. */
export const DOCKER_MODE_CONTAINER_PORT = 7000;
export const DOCKER_MODE_HOST_PORT = 17198;
/** What container 1 sends to each connection. */
export const DOCKER_MODE_GREETING = 'hello from c0f0';

/** What the real-Docker mode needs: a dockerd, an image it has, the plugin's driver name, and a way to list links. */
export interface RealDockerOptions {
  /** dockerd's API socket (from `--docker-host unix:///PATH`). */
  readonly engineSocket: string;
  /** An image already in that dockerd with sh, nc and ping (busybox); never pulled. */
  readonly image: string;
  /** The name dockerd knows the plugin by (its socket's base name in /run/docker/plugins). */
  readonly driver: string;
  /** Lists the links of the namespace where dockerd and the plugin make their interfaces. */
  readonly links: LinkLister;
  /** Per Engine API call; default 60 s (dockerd waits up to 30 s for a plugin it cannot find). */
  readonly timeoutMs?: number;
  /** The network's IPv4 subnet (`--docker-subnet`), for a host where 10.198.0.0/24 is taken; default {@link DOCKER_MODE_SUBNET}. */
  readonly subnet?: string;
  /** The host port on 127.0.0.1 container 1 is published on (`--docker-port`); default {@link DOCKER_MODE_HOST_PORT}. */
  readonly hostPort?: number;
  /** Whether the network is dual-stack (`--docker-ipv6 on|off`); default true. */
  readonly ipv6?: boolean;
  /** The network's IPv6 subnet (`--docker-subnet6`) when dual-stack; default {@link DOCKER_MODE_SUBNET6}. */
  readonly subnet6?: string;
}

/**
 * An IPv4 subnet the real-Docker mode can use, normalised (`10.5.0.0/24`), with its gateway (the
 * first address); undefined when `cidr` is not one: malformed, host bits set, or too small for a
 * gateway and two containers (a /30 at most).
 */
export function dockerModeSubnet(cidr: string): { subnet: string; gateway: string } | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix < 8 || prefix > 29) return undefined;
  const value = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - prefix);
  if (value % size !== 0) return undefined;
  const dotted = (v: number) => [24, 16, 8, 0].map((s) => Math.floor(v / 2 ** s) % 256).join('.');
  return { subnet: `${dotted(value)}/${prefix}`, gateway: dotted(value + 1) };
}

/** An IPv6 address as a number, or undefined for anything else (zones and dotted tails too). */
export function parseIpv6(text: string): bigint | undefined {
  if (!isIPv6(text) || /[%.]/.test(text)) return undefined;
  const [head = '', tail] = text.split('::');
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  const fill = tail === undefined ? [] : Array<string>(8 - groups(head).length - groups(tail).length).fill('0');
  return [...groups(head), ...fill, ...groups(tail)].reduce((acc, g) => (acc << 16n) + BigInt(`0x${g}`), 0n);
}

/** An IPv6 address in its short form (RFC 5952: lower case, the longest run of zero groups as ::). */
export function formatIpv6(value: bigint): string {
  const groups = Array.from({ length: 8 }, (_, n) => ((value >> BigInt(112 - 16 * n)) & 0xffffn).toString(16));
  let best = { at: -1, len: 1 };
  for (let at = 0; at < 8; at++) {
    let len = 0;
    while (at + len < 8 && groups[at + len] === '0') len++;
    if (len > best.len) best = { at, len };
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.len).join(':')}`;
}

/**
 * An IPv6 subnet the real-Docker mode can use, normalised (`fd5c:6e65:7443::/64`), with its
 * gateway (the first address); undefined when `cidr` is not one: malformed, host bits set, or
 * outside /48 to /120 (wider than a site's prefix, or too small to be worth a network).
 */
export function dockerModeSubnet6(cidr: string): { subnet: string; gateway: string } | undefined {
  const m = /^([0-9A-Fa-f:]+)\/(\d{1,3})$/.exec(cidr);
  const value = m ? parseIpv6(m[1] as string) : undefined;
  const prefix = Number(m?.[2]);
  if (value === undefined || prefix < 48 || prefix > 120) return undefined;
  if (value % (1n << BigInt(128 - prefix)) !== 0n) return undefined;
  return { subnet: `${formatIpv6(value)}/${prefix}`, gateway: formatIpv6(value + 1n) };
}

/** Whether `address` (IPv6) is inside `subnet` (as {@link dockerModeSubnet6} gives it). */
function inIpv6Subnet(address: string, subnet: string): boolean {
  const [net = '', prefix = '128'] = subnet.split('/');
  const a = parseIpv6(address);
  const n = parseIpv6(net);
  const shift = BigInt(128 - Number(prefix));
  return a !== undefined && n !== undefined && a >> shift === n >> shift;
}

/**
 * A prerequisite of a check failed in an earlier check: the check is a SKIP naming it, so a
 * plugin's one failure is reported once.
 */
export class EarlierFailure extends Error {
  override readonly name = 'EarlierFailure';
}

interface Memo<T> {
  promise?: Promise<T>;
  by?: string;
}

/**
 * One run's real-Docker objects: a network with the plugin as driver, two containers on it, and
 * the interface lists of the namespace taken before anything was created and while the network
 * existed. Steps are memoised: the docker.* checks share them (a check run alone with --only
 * creates what it needs), and {@link cleanup} removes everything whatever happened, once.
 */
export class RealDockerSession {
  readonly networkName: string;
  readonly serverName: string;
  readonly pingName: string;
  readonly ping6Name: string;
  /** The network's subnet and gateway, and the published host port, as given or by default. */
  readonly subnet: string;
  readonly gateway: string;
  readonly hostPort: number;
  /** The IPv6 subnet and gateway when the network is dual-stack (`--docker-ipv6 on`, the default); else undefined. */
  readonly ipv6?: { readonly subnet: string; readonly gateway: string };
  private readonly timeoutMs: number;
  private before?: Promise<LinkList>;
  private during?: LinkList;
  private readonly networkMemo: Memo<{ id: string; inspect: Record<string, unknown> }> = {};
  private readonly serverMemo: Memo<{ id: string; ip: string; ip6: string }> = {};
  private readonly ip6Memo: Memo<string> = {};
  private readonly containers: string[] = [];
  private networkId?: string;
  private cleaning?: Promise<string[]>;
  private readonly removed = new Set<string>();
  private closed = false;

  constructor(readonly options: RealDockerOptions, readonly ipam: boolean) {
    const tag = randomBytes(4).toString('hex');
    this.networkName = `c0f0-conformance-${tag}`;
    this.serverName = `c0f0-conformance-${tag}-server`;
    this.pingName = `c0f0-conformance-${tag}-ping`;
    this.ping6Name = `c0f0-conformance-${tag}-ping6`;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    const net = dockerModeSubnet(options.subnet ?? DOCKER_MODE_SUBNET);
    if (!net) throw new Error(`the real-Docker mode's subnet ${options.subnet ?? ''} is not an IPv4 subnet between /8 and /29 without host bits`);
    this.subnet = net.subnet;
    this.gateway = net.gateway;
    this.hostPort = options.hostPort ?? DOCKER_MODE_HOST_PORT;
    if (options.ipv6 === false) return;
    this.ipv6 = dockerModeSubnet6(options.subnet6 ?? DOCKER_MODE_SUBNET6);
    if (!this.ipv6) throw new Error(`the real-Docker mode's IPv6 subnet ${options.subnet6 ?? ''} is not an IPv6 subnet between /48 and /120 without host bits`);
  }

  /** The namespace's links before the mode created anything (taken once, on first use). */
  linksBefore(): Promise<LinkList> {
    this.before ??= this.options.links();
    return this.before;
  }

  /** Bridges that appeared while the network and container 1 existed: the plugin's. */
  bridgesCreated(): Promise<string[]> {
    const during = this.during;
    if (!during) return Promise.resolve([]);
    return this.linksBefore().then((b) => during.bridges.filter((n) => !b.bridges.includes(n)), () => []);
  }

  /** Whether anything was created, for the cleanup check's note. */
  createdAnything(): boolean {
    return this.networkId !== undefined || this.containers.length > 0;
  }

  private call(what: string, method: string, path: string, body?: unknown): Promise<unknown> {
    if (this.closed && method === 'POST' && /\/create$/.test(path.split('?')[0] ?? '')) {
      return Promise.reject(new Error(`${what}: interrupted, the real-Docker mode is removing what it created`));
    }
    return engineOk(this.options.engineSocket, what, method, path, body, this.timeoutMs);
  }

  private memo<T>(m: Memo<T>, check: string, step: string, make: () => Promise<T>): Promise<T> {
    if (m.promise && m.by !== check) {
      return m.promise.catch((err: unknown) => {
        if (err instanceof EarlierFailure) throw err;
        throw new EarlierFailure(`${step} failed in ${m.by} (see its line): ${err instanceof Error ? err.message : String(err)}`);
      });
    }
    if (!m.promise) {
      m.by = check;
      m.promise = make();
    }
    return m.promise;
  }

  /**
   * `docker network create -d DRIVER [--ipam-driver DRIVER] --subnet SUBNET NAME`, dual-stack
   * (`--ipv6 --subnet SUBNET6`) unless `--docker-ipv6 off`, and its inspect.
   */
  network(check: string): Promise<{ id: string; inspect: Record<string, unknown> }> {
    return this.memo(this.networkMemo, check, 'creating the network', async () => {
      await this.linksBefore().catch(() => undefined);
      const config = [{ Subnet: this.subnet, Gateway: this.gateway }, ...(this.ipv6 ? [{ Subnet: this.ipv6.subnet, Gateway: this.ipv6.gateway }] : [])];
      const created = await this.call(`creating network ${this.networkName} with driver ${this.options.driver}`, 'POST', '/networks/create', {
        Name: this.networkName, Driver: this.options.driver, CheckDuplicate: true, EnableIPv6: this.ipv6 !== undefined,
        IPAM: { Driver: this.ipam ? this.options.driver : 'default', Config: config },
        Labels: { 'c0f0.conformance': 'true' },
      }) as { Id?: string };
      if (typeof created?.Id !== 'string') throw new Error(`POST /networks/create answered no Id: ${JSON.stringify(created)}`);
      this.networkId = created.Id;
      const inspect = await this.call('inspecting the network', 'GET', `/networks/${created.Id}`) as Record<string, unknown>;
      return { id: created.Id, inspect };
    });
  }

  /**
   * Container 1 on the network, `-p 127.0.0.1:HOSTPORT:7000` (17198 by default), running a busybox loop that sends the
   * greeting to each connection; resolves to its id and its addresses on the network (`ip6` is
   * empty when it got no IPv6 address: {@link serverIpv6} judges that).
   */
  server(check: string): Promise<{ id: string; ip: string; ip6: string }> {
    return this.memo(this.serverMemo, check, 'starting container 1', async () => {
      await this.network(check);
      await this.requireImage();
      const port = `${DOCKER_MODE_CONTAINER_PORT}/tcp`;
      const id = await this.createAndStart(this.serverName, {
        Cmd: ['sh', '-c', `while true; do echo '${DOCKER_MODE_GREETING}' | nc -l -p ${DOCKER_MODE_CONTAINER_PORT}; done`],
        ExposedPorts: { [port]: {} },
        HostConfig: { NetworkMode: this.networkName, PortBindings: { [port]: [{ HostIp: '127.0.0.1', HostPort: String(this.hostPort) }] } },
      });
      const inspect = await this.call('inspecting container 1', 'GET', `/containers/${id}/json`) as { NetworkSettings?: { Networks?: Record<string, { IPAddress?: string; GlobalIPv6Address?: string }> } };
      const settings = inspect.NetworkSettings?.Networks?.[this.networkName];
      const ip = settings?.IPAddress ?? '';
      if (ip === '') throw new Error(`container 1 has no IPv4 address on ${this.networkName}: ${JSON.stringify(inspect.NetworkSettings?.Networks ?? {})}`);
      this.during = await this.options.links().catch(() => undefined);
      return { id, ip, ip6: settings?.GlobalIPv6Address ?? '' };
    });
  }

  /**
   * Container 1's IPv6 address on the dual-stack network (docker inspect's GlobalIPv6Address),
   * which must be in the IPv6 subnet; memoised, so docker.ping6 is a SKIP when docker.ipv6 found none.
   */
  serverIpv6(check: string): Promise<string> {
    return this.memo(this.ip6Memo, check, 'finding container 1\'s IPv6 address', async () => {
      const six = this.ipv6;
      if (!six) throw new Error('the network is IPv4-only (--docker-ipv6 off)');
      const { ip6 } = await this.server(check);
      if (ip6 === '') throw new Error(`container 1 got no IPv6 address on a --ipv6 network (${this.networkName}, ${six.subnet}): docker inspect shows GlobalIPv6Address empty; give the endpoint an IPv6 address (CreateEndpoint's AddressIPv6) and configure it in Join`);
      if (!inIpv6Subnet(ip6, six.subnet)) throw new Error(`container 1 got IPv6 address ${ip6}, outside the network's subnet ${six.subnet}`);
      return ip6;
    });
  }

  /** Runs container 2 (named `name`) with `argv` on the network until it exits; its exit code and output (a TTY, so plain text). */
  async runToExit(argv: readonly string[], waitMs: number, name = this.pingName): Promise<{ code: number; output: string }> {
    const id = await this.createAndStart(name, { Cmd: [...argv], Tty: true, HostConfig: { NetworkMode: this.networkName } });
    const waited = await engineOk(this.options.engineSocket, 'waiting for container 2', 'POST', `/containers/${id}/wait`, undefined, waitMs) as { StatusCode?: number };
    const logs = await engineCall(this.options.engineSocket, 'GET', `/containers/${id}/logs?stdout=1&stderr=1`, undefined, this.timeoutMs).catch(() => undefined);
    return { code: waited.StatusCode ?? -1, output: logs?.status === 200 ? logs.text.trim() : '' };
  }

  private async requireImage(): Promise<void> {
    const reply = await engineCall(this.options.engineSocket, 'GET', `/images/${encodeURIComponent(this.options.image)}/json`, undefined, this.timeoutMs);
    if (reply.status === 404) {
      throw new Error(`image ${this.options.image} is not in this dockerd, and the kit never pulls: load it there first (docker load -i FILE, or docker build/import; any image with busybox's sh, nc and ping)`);
    }
    if (reply.status !== 200) throw new Error(`inspecting image ${this.options.image}: dockerd answered HTTP ${reply.status}: ${engineMessage(reply)}`);
  }

  private async createAndStart(name: string, config: Record<string, unknown>): Promise<string> {
    const created = await this.call(`creating container ${name}`, 'POST', `/containers/create?name=${encodeURIComponent(name)}`, {
      Image: this.options.image, Labels: { 'c0f0.conformance': 'true' }, ...config,
    }) as { Id?: string };
    if (typeof created?.Id !== 'string') throw new Error(`POST /containers/create answered no Id: ${JSON.stringify(created)}`);
    this.containers.push(created.Id);
    await this.call(`starting container ${name}`, 'POST', `/containers/${created.Id}/start`);
    return created.Id;
  }

  /**
   * Removes the containers (forced) and the network, each step whatever the others did, and
   * creates nothing afterwards (a step still under way then fails with "interrupted"). Calls are
   * serialised; each removes what earlier ones did not (a container created while one ran, a
   * removal that failed). Resolves to what could not be removed.
   */
  cleanup(): Promise<string[]> {
    this.closed = true;
    this.cleaning = (this.cleaning ?? Promise.resolve([])).then(async () => {
      const failed: string[] = [];
      const remove = async (what: string, path: string): Promise<boolean> => {
        try {
          const reply = await engineCall(this.options.engineSocket, 'DELETE', path, undefined, this.timeoutMs);
          if (reply.status < 300 || reply.status === 404) return true;
          failed.push(`${what}: dockerd answered HTTP ${reply.status}: ${engineMessage(reply)}`);
        } catch (err) {
          failed.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
        }
        return false;
      };
      for (const id of [...this.containers].reverse()) {
        if (!this.removed.has(id) && await remove(`container ${id.slice(0, 12)}`, `/containers/${id}?force=1&v=1`)) this.removed.add(id);
      }
      if (this.networkId && !this.removed.has(this.networkId) && await remove(`network ${this.networkName}`, `/networks/${this.networkId}`)) this.removed.add(this.networkId);
      return failed;
    });
    return this.cleaning;
  }

  /** Objects of this session dockerd still has (containers and the network), by inspect. */
  async stillInDockerd(): Promise<string[]> {
    const left: string[] = [];
    const probe = async (what: string, path: string) => {
      const reply = await engineCall(this.options.engineSocket, 'GET', path, undefined, this.timeoutMs);
      if (reply.status !== 404) left.push(what);
    };
    for (const id of this.containers) await probe(`container ${id.slice(0, 12)}`, `/containers/${id}/json`);
    if (this.networkId) await probe(`network ${this.networkName}`, `/networks/${this.networkId}`);
    return left;
  }
}
