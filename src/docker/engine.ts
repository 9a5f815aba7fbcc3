import { request } from 'node:http';
import { errorText, TsnetError } from '../core/errors.js';

/**
 * A read-only client of the Docker Engine API, for the little tsnet needs to converge with
 * Docker: which networks exist and which endpoints each has. It is never used while dockerd
 * waits on a plugin call (dockerd holds locks then, and asking it back can deadlock); the
 * convergence runs on its own schedule.
 */
export interface DockerNetworkSummary {
  readonly id: string;
  readonly name: string;
  readonly driver: string;
  readonly ipamDriver: string;
  /** The network's driver options (`-o key=value`); absent in summaries made by tests. */
  readonly options?: Readonly<Record<string, string>>;
  readonly subnets: ReadonlyArray<{ readonly subnet: string; readonly ipRange?: string; readonly gateway?: string; readonly aux: readonly string[] }>;
}

export interface DockerEndpoint {
  readonly endpointId: string;
  readonly containerId: string;
  readonly name: string;
  /** CIDR strings, "" when none. */
  readonly ipv4: string;
  readonly ipv6: string;
}

export interface DockerEngine {
  /** Where the API is, for logs. */
  readonly description: string;
  /** Each method takes a `signal` that ends its request at once (a stopping daemon must not wait on dockerd). */
  networks(signal?: AbortSignal): Promise<DockerNetworkSummary[]>;
  /** The endpoints of one network that are attached to a container; undefined when the network is gone. */
  endpoints(networkId: string, signal?: AbortSignal): Promise<DockerEndpoint[] | undefined>;
  /** dockerd's own ID (`docker info` ID): stable for one dockerd and its data root. */
  identity(signal?: AbortSignal): Promise<string>;
}

/** One network attachment of a container, as the containers API shows it. */
export interface DockerAttachment {
  readonly networkId: string;
  /** The network's name (the key Docker lists attachments by). */
  readonly networkName: string;
  readonly endpointId: string;
  /** Plain addresses (no prefix length); "" when none. */
  readonly ipv4: string;
  readonly ipv6: string;
  /** `--network-alias` values (and, on dockerd 20.10, the short container id); empty in lists. */
  readonly aliases: readonly string[];
  /** Every name Docker's DNS gives the container on this network (dockerd 25+; empty before). */
  readonly dnsNames: readonly string[];
}

export interface DockerContainer {
  readonly id: string;
  /** Without Docker's leading slash. */
  readonly name: string;
  readonly networks: readonly DockerAttachment[];
}

/** What Docker reports happened (`docker events`), reduced to what tsnet reacts to. */
export interface DockerEvent {
  readonly type: string;
  readonly action: string;
  /** The container or network the event is about. */
  readonly id: string;
}

/** The containers side of the Engine API, for learning containers' names and addresses. */
export interface DockerContainers {
  /** Every container, running or not, with its attachments (aliases are not in this list). */
  containers(signal?: AbortSignal): Promise<DockerContainer[]>;
  /** The endpoints of one network (by id or name) attached to a container; undefined when the network is gone. */
  endpoints(network: string, signal?: AbortSignal): Promise<DockerEndpoint[] | undefined>;
  /** One container with its aliases; undefined when it is gone. */
  container(id: string, signal?: AbortSignal): Promise<DockerContainer | undefined>;
  /**
   * Follows Docker's event stream for `actions` of containers and networks until it ends, fails
   * or `signal` aborts; resolves then (rejects only if it could not be opened).
   */
  events(actions: readonly string[], onEvent: (event: DockerEvent) => void, signal: AbortSignal): Promise<void>;
}

interface ContainerJson {
  Id: string;
  Name?: string;
  Names?: string[] | null;
  NetworkSettings?: { Networks?: Record<string, { NetworkID?: string; EndpointID?: string; IPAddress?: string; GlobalIPv6Address?: string; Aliases?: string[] | null; DNSNames?: string[] | null }> | null } | null;
}

interface NetworkJson {
  Id: string;
  Name?: string;
  Driver?: string;
  Options?: Record<string, string> | null;
  IPAM?: { Driver?: string; Config?: Array<{ Subnet?: string; IPRange?: string; Gateway?: string; AuxiliaryAddresses?: Record<string, string> | null }> | null };
  Containers?: Record<string, { Name?: string; EndpointID?: string; IPv4Address?: string; IPv6Address?: string }> | null;
}

const TIMEOUT_MS = 5_000;
const MAX_BODY = 64 * 1024 * 1024;

/** The Engine API on a unix socket (`unix:///var/run/docker.sock`). */
export class UnixDockerEngine implements DockerEngine, DockerContainers {
  readonly description: string;

  constructor(private readonly socketPath: string) {
    this.description = `unix://${socketPath}`;
  }

  async networks(signal?: AbortSignal): Promise<DockerNetworkSummary[]> {
    const { status, body } = await this.get('/networks', signal);
    if (status !== 200) throw this.failed('/networks', status, body);
    return (JSON.parse(body) as NetworkJson[]).map(toSummary);
  }

  async endpoints(networkId: string, signal?: AbortSignal): Promise<DockerEndpoint[] | undefined> {
    const path = `/networks/${encodeURIComponent(networkId)}`;
    const { status, body } = await this.get(path, signal);
    if (status === 404) return undefined;
    if (status !== 200) throw this.failed(path, status, body);
    const json = JSON.parse(body) as NetworkJson;
    return Object.entries(json.Containers ?? {}).map(([containerId, c]) => ({
      containerId, endpointId: c.EndpointID ?? '', name: c.Name ?? '', ipv4: c.IPv4Address ?? '', ipv6: c.IPv6Address ?? '',
    }));
  }

  async identity(signal?: AbortSignal): Promise<string> {
    const { status, body } = await this.get('/info', signal);
    if (status !== 200) throw this.failed('/info', status, body);
    const info = JSON.parse(body) as { ID?: string; Name?: string };
    return `${info.ID ?? ''}@${info.Name ?? ''}`;
  }

  async containers(signal?: AbortSignal): Promise<DockerContainer[]> {
    const { status, body } = await this.get('/containers/json?all=1', signal);
    if (status !== 200) throw this.failed('/containers/json', status, body);
    return (JSON.parse(body) as ContainerJson[]).map(toContainer);
  }

  async container(id: string, signal?: AbortSignal): Promise<DockerContainer | undefined> {
    const path = `/containers/${encodeURIComponent(id)}/json`;
    const { status, body } = await this.get(path, signal);
    if (status === 404) return undefined;
    if (status !== 200) throw this.failed(path, status, body);
    return toContainer(JSON.parse(body) as ContainerJson);
  }

  events(actions: readonly string[], onEvent: (event: DockerEvent) => void, signal: AbortSignal): Promise<void> {
    const filters = JSON.stringify({ type: ['container', 'network'], event: actions });
    const path = `/events?filters=${encodeURIComponent(filters)}`;
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        resolve();
        return;
      }
      // No idle timeout: an event stream is quiet for as long as nothing happens.
      const req = request({ socketPath: this.socketPath, path, method: 'GET', headers: { host: 'docker' }, signal }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(this.failed('/events', res.statusCode ?? 0, ''));
          return;
        }
        let pending = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          pending += chunk;
          if (pending.length > MAX_BODY) {
            req.destroy();
            return;
          }
          let newline: number;
          while ((newline = pending.indexOf('\n')) >= 0) {
            const line = pending.slice(0, newline).trim();
            pending = pending.slice(newline + 1);
            const event = line ? toEvent(line) : undefined;
            if (event) onEvent(event);
          }
        });
        res.on('end', () => resolve());
        res.on('error', () => resolve());
        res.on('close', () => resolve());
      });
      req.on('error', (err) => (signal.aborted ? resolve() : reject(new TsnetError('TSNET_DOCKER_UNREACHABLE', `cannot follow Docker's events at ${this.description}: ${errorText(err)}`, 'check that dockerd runs and that --docker-host points at its API socket'))));
      req.end();
    });
  }

  /** dockerd's version and API version (`docker version`), for `tsnet doctor`. */
  async version(): Promise<{ version: string; apiVersion: string }> {
    const { status, body } = await this.get('/version');
    if (status !== 200) throw this.failed('/version', status, body);
    const json = JSON.parse(body) as { Version?: string; ApiVersion?: string };
    return { version: json.Version ?? 'unknown', apiVersion: json.ApiVersion ?? 'unknown' };
  }

  private get(path: string, signal?: AbortSignal): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortedError(path));
        return;
      }
      const req = request({ socketPath: this.socketPath, path, method: 'GET', headers: { host: 'docker' }, timeout: TIMEOUT_MS, ...(signal ? { signal } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY) req.destroy(new Error(`answer larger than ${MAX_BODY} bytes`));
          else chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
      req.on('error', (err) => reject(signal?.aborted ? abortedError(path) : new TsnetError('TSNET_DOCKER_UNREACHABLE', `cannot reach the Docker API at ${this.description}: ${errorText(err)}`, 'check that dockerd runs and that --docker-host points at its API socket')));
      req.end();
    });
  }

  private failed(path: string, status: number, body: string): TsnetError {
    return new TsnetError('TSNET_DOCKER_API', `the Docker API at ${this.description} answered ${status} to GET ${path}: ${body.slice(0, 200)}`);
  }
}

function abortedError(path: string): TsnetError {
  return new TsnetError('TSNET_ABORTED', `GET ${path} on the Docker API was abandoned: tsnet is stopping`);
}

function toContainer(c: ContainerJson): DockerContainer {
  const name = (c.Name ?? c.Names?.[0] ?? '').replace(/^\//, '');
  return {
    id: c.Id,
    name,
    networks: Object.entries(c.NetworkSettings?.Networks ?? {}).map(([networkName, n]) => ({
      networkId: n.NetworkID ?? '', networkName, endpointId: n.EndpointID ?? '', ipv4: n.IPAddress ?? '', ipv6: n.GlobalIPv6Address ?? '', aliases: n.Aliases ?? [], dnsNames: n.DNSNames ?? [],
    })),
  };
}

/** One line of the event stream; undefined for a line that is not an event tsnet can read. */
function toEvent(line: string): DockerEvent | undefined {
  try {
    const e = JSON.parse(line) as { Type?: unknown; Action?: unknown; Actor?: { ID?: unknown } };
    if (typeof e.Type !== 'string' || typeof e.Action !== 'string' || typeof e.Actor?.ID !== 'string') return undefined;
    return { type: e.Type, action: e.Action, id: e.Actor.ID };
  } catch {
    return undefined;
  }
}

function toSummary(n: NetworkJson): DockerNetworkSummary {
  return {
    id: n.Id,
    name: n.Name ?? '',
    driver: n.Driver ?? '',
    ipamDriver: n.IPAM?.Driver ?? '',
    options: n.Options ?? {},
    subnets: (n.IPAM?.Config ?? []).filter((c) => c.Subnet).map((c) => ({
      subnet: c.Subnet as string, ipRange: c.IPRange || undefined, gateway: c.Gateway || undefined, aux: Object.values(c.AuxiliaryAddresses ?? {}),
    })),
  };
}

/** Parses `--docker-host`: `unix:///path`, or `none` to run without asking Docker. */
export function dockerEngineFor(host: string): (DockerEngine & DockerContainers) | undefined {
  if (host === 'none') return undefined;
  const match = /^unix:\/\/(\/.+)$/.exec(host);
  if (!match?.[1]) throw new TsnetError('TSNET_CLI_ARGS', `--docker-host "${host.slice(0, 80)}" is not unix:///PATH or none`, 'e.g. --docker-host unix:///var/run/docker.sock');
  return new UnixDockerEngine(match[1]);
}
