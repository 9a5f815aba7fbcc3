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
export class UnixDockerEngine implements DockerEngine {
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
export function dockerEngineFor(host: string): DockerEngine | undefined {
  if (host === 'none') return undefined;
  const match = /^unix:\/\/(\/.+)$/.exec(host);
  if (!match?.[1]) throw new TsnetError('TSNET_CLI_ARGS', `--docker-host "${host.slice(0, 80)}" is not unix:///PATH or none`, 'e.g. --docker-host unix:///var/run/docker.sock');
  return new UnixDockerEngine(match[1]);
}
