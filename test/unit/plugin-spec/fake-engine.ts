import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LinkList } from '../../../plugin-spec/conformance/links.js';

/** How the fake dockerd misbehaves, one way at a time. */
export type EngineBreak = 'refuse-network' | 'leak-veth' | 'ping-fails' | 'no-publish' | 'no-ipv6' | 'ping6-fails';

/** A fake dockerd on a unix socket, with a fake kernel (links) for the real-Docker mode's checks. */
export interface FakeEngine {
  readonly socketPath: string;
  /** Images it has. */
  readonly images: Set<string>;
  /** The fake namespace's links, as a LinkLister sees them. */
  links(): Promise<LinkList>;
  /** Networks and containers it still has. */
  objects(): { networks: string[]; containers: string[] };
  /** Every request, `METHOD /path`. */
  readonly calls: string[];
  close(): Promise<void>;
}

/**
 * Answers the Engine API calls the real-Docker mode makes, as dockerd 28 does: networks get a
 * bridge link, running containers a veth and, on an EnableIPv6 network, an IPv6 address too; container 1's published port is a real TCP listener on
 * 127.0.0.1:hostPort sending what its command line echoes.
 */
export async function startFakeEngine(breaks?: EngineBreak): Promise<FakeEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'tsnet-fake-engine-'));
  const socketPath = join(dir, 'docker.sock');
  const links = new Set(['lo', 'eth0']);
  const bridges = new Set<string>();
  const networks = new Map<string, { name: string; body: Record<string, unknown> }>();
  const containers = new Map<string, { name: string; body: Record<string, unknown>; ip: string; ip6: string; veth: string; listener?: TcpServer }>();
  const images = new Set(['busybox:latest']);
  const calls: string[] = [];
  let n = 0;
  const id = () => `${(++n).toString(16).padStart(4, '0')}`.repeat(16);

  // 'ping-fails' breaks IPv4 pings, 'ping6-fails' the ping -6 ones.
  const pingFails = (cmd: readonly string[]) => cmd[0] === 'ping' && breaks === (cmd[1] === '-6' ? 'ping6-fails' : 'ping-fails');
  const send = (res: ServerResponse, status: number, body?: unknown) => {
    res.writeHead(status, body === undefined ? {} : { 'Content-Type': 'application/json' });
    res.end(body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse, text: string) => {
    const url = new URL(req.url ?? '/', 'http://docker');
    const path = url.pathname;
    calls.push(`${req.method} ${path}`);
    const body = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
    let m: RegExpExecArray | null;
    if (req.method === 'GET' && path === '/_ping') return send(res, 200, 'OK');
    if (req.method === 'GET' && path === '/version') return send(res, 200, { Version: '28.5.2', ApiVersion: '1.51' });
    if (req.method === 'POST' && path === '/networks/create') {
      if (breaks === 'refuse-network') return send(res, 500, { message: 'plugin "x" not found' });
      const nid = id();
      networks.set(nid, { name: String(body.Name), body });
      const bridge = `br-${nid.slice(0, 12)}`;
      bridges.add(bridge);
      links.add(bridge);
      return send(res, 201, { Id: nid, Warning: '' });
    }
    if ((m = /^\/networks\/(\w+)$/.exec(path))) {
      const net = networks.get(m[1] as string);
      if (!net) return send(res, 404, { message: `network ${m[1]} not found` });
      if (req.method === 'DELETE') {
        networks.delete(m[1] as string);
        links.delete(`br-${(m[1] as string).slice(0, 12)}`);
        return send(res, 204);
      }
      return send(res, 200, { Name: net.name, Id: m[1], Driver: net.body.Driver, EnableIPv6: net.body.EnableIPv6 === true, IPAM: net.body.IPAM });
    }
    if ((m = /^\/images\/(.+)\/json$/.exec(path))) {
      return images.has(decodeURIComponent(m[1] as string)) ? send(res, 200, { Id: 'sha256:x' }) : send(res, 404, { message: `No such image: ${m[1]}` });
    }
    if (req.method === 'POST' && path === '/containers/create') {
      if (!images.has(String(body.Image))) return send(res, 404, { message: `No such image: ${String(body.Image)}` });
      const cid = id();
      // An address of the network's subnet (the fake reads a /24's first three octets), as dockerd's IPAM would give;
      // on an EnableIPv6 network one of the IPv6 subnet too (the fake appends to a subnet ending in ::).
      const networkName = String(((body.HostConfig ?? {}) as { NetworkMode?: string }).NetworkMode ?? '');
      const net = [...networks.values()].find((n) => n.name === networkName)?.body as { EnableIPv6?: boolean; IPAM?: { Config?: Array<{ Subnet?: string }> } } | undefined;
      const base = (net?.IPAM?.Config?.[0]?.Subnet ?? '10.198.0.0/24').split('.').slice(0, 3).join('.');
      const base6 = net?.EnableIPv6 && breaks !== 'no-ipv6' ? net.IPAM?.Config?.find((c) => c.Subnet?.includes(':'))?.Subnet?.split('/')[0] : undefined;
      const ip6 = base6 ? `${base6}${(containers.size + 2).toString(16)}` : '';
      containers.set(cid, { name: url.searchParams.get('name') ?? '', body, ip: `${base}.${containers.size + 2}`, ip6, veth: `veth${cid.slice(0, 7)}` });
      return send(res, 201, { Id: cid, Warnings: [] });
    }
    if ((m = /^\/containers\/(\w+)(\/\w+)?$/.exec(path))) {
      const c = containers.get(m[1] as string);
      if (!c) return send(res, 404, { message: `No such container: ${m[1]}` });
      const host = (c.body.HostConfig ?? {}) as { NetworkMode?: string; PortBindings?: Record<string, Array<{ HostPort: string }>> };
      const cmd = (c.body.Cmd ?? []) as string[];
      switch (`${req.method} ${m[2] ?? ''}`) {
        case 'POST /start': {
          links.add(c.veth);
          const port = Object.values(host.PortBindings ?? {})[0]?.[0]?.HostPort;
          const greeting = /echo '([^']*)'/.exec(cmd.join(' '))?.[1];
          if (port && greeting && breaks !== 'no-publish') {
            c.listener = createTcpServer((s) => s.end(`${greeting}\n`));
            await new Promise<void>((resolve, reject) => c.listener?.once('error', reject).listen(Number(port), '127.0.0.1', resolve));
          }
          return send(res, 204);
        }
        case 'GET /json': return send(res, 200, { Id: m[1], NetworkSettings: { Networks: { [host.NetworkMode ?? '']: { IPAddress: c.ip, GlobalIPv6Address: c.ip6 } } } });
        case 'POST /wait': return send(res, 200, { StatusCode: pingFails(cmd) ? 1 : 0 });
        case 'GET /logs': return send(res, 200, pingFails(cmd) ? '1 packets transmitted, 0 packets received, 100% packet loss\n' : '');
        case 'DELETE ': {
          containers.delete(m[1] as string);
          if (breaks !== 'leak-veth') links.delete(c.veth);
          await new Promise<void>((resolve) => (c.listener ? c.listener.close(() => resolve()) : resolve()));
          return send(res, 204);
        }
        default: return send(res, 404, { message: `fake engine: ${req.method} ${path}` });
      }
    }
    return send(res, 404, { message: `fake engine: ${req.method} ${path}` });
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => { handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err: Error) => send(res, 500, { message: err.message })); });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath, images, calls,
    links: async () => ({ all: [...links].sort(), bridges: [...bridges].filter((b) => links.has(b)).sort() }),
    objects: () => ({ networks: [...networks.values()].map((x) => x.name), containers: [...containers.values()].map((x) => x.name) }),
    close: async () => {
      for (const c of containers.values()) c.listener?.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
