import { createSocket, type Socket } from 'node:dgram';
import { constants } from 'node:fs';
import { access, readFile, stat, statfs } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { dirname } from 'node:path';
import { EtcdKvStore } from '../../kvstore/etcd/etcd-kv-store.js';
import { errorText } from '../core/errors.js';
import { UnixDockerEngine } from '../docker/engine.js';
import type { DoctorOptions } from './check.js';
import type { DirState, DockerState, EtcdEndpointState, HostLeaseState, SocketState } from './probe.js';

const TIMEOUT_MS = 3_000;
/** How long a refusal ("port unreachable") may take to come back. */
const UDP_WAIT_MS = 500;
/** Where dockerd reads its settings unless started with --config-file. */
const DOCKER_CONFIG_FILE = '/etc/docker/daemon.json';
/** VTEP keys of overlays in etcd: drivers/overlay/registry.ts overlayKeys.vtep (doctor may not import drivers). */
export const VTEP_PREFIX = 'overlay/v1/net/';
const VTEP_KEY = /^overlay\/v1\/net\/([^/]+)\/vtep\/([^/]+)$/;
/** A host's liveness key: src/ipam/records.ts hostKey (doctor may not import the IPAM). */
export const hostLivenessKey = (hostId: string): string => `hosts/${hostId}`;

/** The services half of the real probe: Docker, the plugin socket, the state directory, etcd, UDP. */
export class ServiceProbe {
  constructor(private readonly options: DoctorOptions) {}

  async docker(dockerHost: string): Promise<DockerState> {
    const path = /^unix:\/\/(\/.+)$/.exec(dockerHost)?.[1];
    if (!path) return { reachable: false, error: `${dockerHost} is not unix:///PATH` };
    const engine = new UnixDockerEngine(path);
    try {
      const { version, apiVersion } = await engine.version();
      const networks = (await engine.networks()).map((n) => ({ name: n.name, driver: n.driver, options: n.options ?? {}, subnets: n.subnets.map((s) => s.subnet) }));
      return { reachable: true, version, apiVersion, networks };
    } catch (err) {
      return { reachable: false, error: errorText(err) };
    }
  }

  async pluginSocket(path: string): Promise<SocketState> {
    const info = await stat(path).catch(() => undefined);
    if (!info) return { exists: false };
    const base = { exists: true as const, isSocket: info.isSocket(), mode: info.mode, uid: info.uid, gid: info.gid };
    if (!info.isSocket()) return base;
    try {
      const { status, body } = await send({ socketPath: path, method: 'POST', path: '/Plugin.Activate', headers: { accept: 'application/vnd.docker.plugins.v1.2+json' } });
      if (status !== 200) return { ...base, activate: { ok: false, error: `HTTP ${status}: ${body.slice(0, 120)}` } };
      const implemented = (JSON.parse(body) as { Implements?: unknown }).Implements;
      return { ...base, activate: { ok: true, implements: Array.isArray(implemented) ? implemented.map(String) : [] } };
    } catch (err) {
      return { ...base, activate: { ok: false, error: errorText(err) } };
    }
  }

  async pluginSpecFiles(name: string): Promise<string[]> {
    const candidates = ['/etc/docker/plugins', '/usr/lib/docker/plugins'].flatMap((d) => [`${d}/${name}.spec`, `${d}/${name}.json`]);
    const found: string[] = [];
    for (const file of candidates) if (await access(file).then(() => true, () => false)) found.push(file);
    return found;
  }

  async directory(path: string): Promise<DirState> {
    const info = await stat(path).catch(() => undefined);
    if (!info) {
      let parent = dirname(path);
      while (parent !== '/' && !(await stat(parent).then(() => true, () => false))) parent = dirname(parent);
      return { exists: false, parent, parentWritable: await writable(parent) };
    }
    if (!info.isDirectory()) return { exists: true, isDirectory: false, writable: 'ENOTDIR' };
    const fs = await statfs(path).catch(() => undefined);
    return { exists: true, isDirectory: true, writable: await writable(path), freeBytes: fs ? fs.bavail * fs.bsize : undefined };
  }

  /** GET /version on the client URL (etcd serves HTTP there too): the version, and its Date for the clock. */
  async etcdEndpoint(endpoint: string): Promise<EtcdEndpointState> {
    const url = new URL('/version', endpoint);
    const tls = this.options.etcd?.tls;
    const started = Date.now();
    try {
      const { status, body, date } = await send({ url, ...(tls ? { ca: tls.ca, cert: tls.cert, key: tls.key } : {}) });
      const ended = Date.now();
      if (status !== 200) return { ok: false, endpoint, error: `HTTP ${status} for GET /version` };
      const version = (JSON.parse(body) as { etcdserver?: string }).etcdserver ?? 'unknown';
      // Date has whole seconds: the server's time lies in [Date, Date + 1 s), so take its middle.
      const skewMs = date ? Date.parse(date) + 500 - (started + ended) / 2 : undefined;
      return { ok: true, endpoint, version, rttMs: ended - started, skewMs: Number.isFinite(skewMs) ? skewMs : undefined };
    } catch (err) {
      return { ok: false, endpoint, error: errorText(err) };
    }
  }

  async etcdRead(): Promise<{ ok: true } | { ok: false; error: string }> {
    return this.withEtcd(async (store) => {
      await store.revision();
      return { ok: true as const };
    }).catch((err: unknown) => ({ ok: false as const, error: etcdReason(err) }));
  }

  async etcdVteps(): Promise<Array<{ network: string; host: string; address: string }>> {
    return this.withEtcd(async (store) => (await store.list(VTEP_PREFIX)).flatMap((entry) => {
      const match = VTEP_KEY.exec(entry.key);
      const address = match ? (JSON.parse(entry.value) as { address?: string }).address : undefined;
      return match && address && isIP(address) ? [{ network: match[1] as string, host: match[2] as string, address }] : [];
    }));
  }

  async etcdHostLease(hostId: string): Promise<HostLeaseState> {
    const key = hostLivenessKey(hostId);
    return this.withEtcd(async (store): Promise<HostLeaseState> => {
      const full = `${this.options.etcd?.prefix ?? ''}${key}`;
      const entry = await store.get(key);
      if (!entry) return { ok: true, key: full };
      const written = parseLiveness(entry.value);
      const ttl = entry.lease ? await store.leaseTimeToLive(entry.lease) : undefined;
      return { ok: true, key: full, entry: { ...(entry.lease ? { lease: etcdctlLeaseId(entry.lease) } : {}), ...(ttl ? { ttl } : {}), ...written } };
    }).catch((err: unknown) => ({ ok: false as const, error: etcdReason(err) }));
  }

  /**
   * One 8-byte datagram shaped like a VXLAN header with the "VNI valid" flag clear, which every
   * VTEP drops; a connected socket then sees the ICMP "port unreachable" of a closed port as
   * ECONNREFUSED. Silence within {@link UDP_WAIT_MS} means "not refused".
   */
  udpRefused(address: string, port: number): Promise<boolean | { error: string }> {
    const refused = (err: Error) => ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED' ? true : { error: errorText(err) });
    return udpProbe(address, (socket, finish) => {
      socket.on('error', (err) => finish(refused(err)));
      socket.connect(port, address, () => socket.send(Buffer.alloc(8), (err) => { if (err) finish(refused(err)); }));
    });
  }

  /**
   * One DNS query (A for tsnet-doctor.invalid, which no server knows) over UDP: any reply with
   * the query's id means a DNS server answers there (tsnet's refuses it: the host is no container).
   */
  dnsAnswers(address: string, port = 53): Promise<boolean | { error: string }> {
    const id = Math.floor(Math.random() * 0x10000);
    const name = Buffer.concat([...'tsnet-doctor.invalid'.split('.').map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)])), Buffer.from([0])]);
    const header = Buffer.alloc(12);
    header.writeUInt16BE(id, 0);
    header.writeUInt16BE(0x0100, 2); // RD
    header.writeUInt16BE(1, 4); // one question
    const query = Buffer.concat([header, name, Buffer.from([0, 1, 0, 1])]); // A, IN
    return udpProbe(address, (socket, finish) => {
      socket.on('message', (msg: Buffer, from) => { if (from.address === address && msg.length >= 12 && msg.readUInt16BE(0) === id) finish(true); });
      socket.on('error', (err) => finish({ error: errorText(err) }));
      // Not connected: a closed port then means silence (false), and an address no route leads
      // to is a send error, never an exception.
      socket.send(query, port, address, (err) => { if (err) finish({ error: errorText(err) }); });
    });
  }

  /** dockerd's "dns" from its default configuration file; a missing file sets nothing. */
  async dockerDns(): Promise<{ file: string; servers: string[] } | { file: string; error: string }> {
    const file = this.options.dockerConfigFile ?? DOCKER_CONFIG_FILE;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT' ? { file, servers: [] } : { file, error: errorText(err) };
    }
    try {
      const config = JSON.parse(text) as { dns?: unknown };
      if (config.dns === undefined) return { file, servers: [] };
      if (!Array.isArray(config.dns) || !config.dns.every((d): d is string => typeof d === 'string')) return { file, error: '"dns" is not a list of addresses' };
      return { file, servers: config.dns };
    } catch (err) {
      return { file, error: `not valid JSON (${errorText(err)})` };
    }
  }

  private async withEtcd<T>(fn: (store: EtcdKvStore) => Promise<T>): Promise<T> {
    if (!this.options.etcd) throw new Error('no etcd configured');
    const store = new EtcdKvStore({ ...this.options.etcd });
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  }
}

/** `{"pid":123,"since":"…"}` as src/ipam/host-liveness.ts writes it; anything else counts as nothing. */
function parseLiveness(value: string): { pid?: number; since?: string } {
  try {
    const parsed = JSON.parse(value) as { pid?: unknown; since?: unknown };
    return { ...(typeof parsed.pid === 'number' ? { pid: parsed.pid } : {}), ...(typeof parsed.since === 'string' ? { since: parsed.since } : {}) };
  } catch {
    return {};
  }
}

/** The store says "refused the credentials" and keeps etcd's own words as the cause: show both. */
function etcdReason(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
  return cause && /^etcdserver:/.test(cause) ? `${errorText(err)} (${cause})` : errorText(err);
}

async function writable(path: string): Promise<true | string> {
  // access(2), not a test file: nothing is written into the daemon's directory, and for root it
  // still reports what stops root (EROFS, EPERM on an immutable directory).
  return access(path, constants.W_OK | constants.X_OK).then(() => true as const, (err: NodeJS.ErrnoException) => err.code ?? errorText(err));
}

interface SendOptions {
  readonly url?: URL;
  readonly socketPath?: string;
  readonly method?: string;
  readonly path?: string;
  readonly headers?: Record<string, string>;
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/** One small HTTP exchange with a deadline; the body is capped, as nothing doctor asks returns much. */
/**
 * One UDP exchange with `address`: `exchange` sends and calls `finish` with the answer; silence
 * for {@link UDP_WAIT_MS} is `false`. The socket is closed once, whatever comes first.
 */
function udpProbe(address: string, exchange: (socket: Socket, finish: (answer: boolean | { error: string }) => void) => void): Promise<boolean | { error: string }> {
  const family = isIP(address);
  if (family === 0) return Promise.resolve({ error: `${address} is not an IP address` });
  return new Promise((resolve) => {
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    let done = false;
    const finish = (answer: boolean | { error: string }) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      resolve(answer);
    };
    const timer = setTimeout(() => finish(false), UDP_WAIT_MS);
    exchange(socket, finish);
  });
}

function send(options: SendOptions): Promise<{ status: number; body: string; date?: string }> {
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > 1024 * 1024) req.destroy(new Error('answer larger than 1 MiB'));
        else chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), date: res.headers.date }));
      res.on('error', reject);
    };
    const common = { method: options.method ?? 'GET', headers: { ...(options.socketPath ? { host: 'localhost' } : {}), ...options.headers }, timeout: TIMEOUT_MS };
    const req = options.url?.protocol === 'https:'
      ? httpsRequest(options.url, { ...common, ca: options.ca, cert: options.cert, key: options.key }, onResponse)
      : options.url
        ? httpRequest(options.url, common, onResponse)
        : httpRequest({ ...common, socketPath: options.socketPath, path: options.path }, onResponse);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * etcd's API gives lease ids in decimal; etcdctl prints them as 16 hex digits (`%016x`) and
 * takes them back in hex, so the doctor shows the form an operator can paste into etcdctl.
 */
export function etcdctlLeaseId(decimal: string): string {
  return BigInt(decimal).toString(16).padStart(16, '0');
}
