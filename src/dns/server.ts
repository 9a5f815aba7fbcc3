import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Lifecycle } from '../core/lifecycle.js';
import { answerQuery, type NameSource } from './answer.js';

export interface DnsServerOptions {
  /** An IP address of this host (an IPv6 address binds udp6). */
  readonly address: string;
  /** 53 in the daemon; 0 picks a free port (tests). */
  readonly port: number;
  readonly names: NameSource;
  readonly log: Logger;
  /** Short by default: a container that moves to another host must not be looked for at its old address for long. */
  readonly ttlSeconds?: number;
  /** Told of every query answered, by outcome (for metrics). Must not throw. */
  readonly onAnswer?: (outcome: DnsOutcome) => void;
}

/** How a query was answered: names found, the name known but not that type, not ours, or a bad query. */
export type DnsOutcome = 'answered' | 'nodata' | 'refused' | 'formerr' | 'notimp' | 'servfail';

const OUTCOME_BY_RCODE: Readonly<Record<number, DnsOutcome>> = { 1: 'formerr', 2: 'servfail', 4: 'notimp', 5: 'refused' };

function outcomeOf(reply: Buffer): DnsOutcome {
  const rcode = (reply[3] as number) & 0xf;
  if (rcode === 0) return reply.length >= 8 && reply.readUInt16BE(6) > 0 ? 'answered' : 'nodata';
  return OUTCOME_BY_RCODE[rcode] ?? 'servfail';
}

const IDLE_TIMEOUT_MS = 10_000;
const MAX_TCP_CONNECTIONS = 64;
/** A client that asks and never reads has this much of our answers buffered before it is cut off. */
const MAX_UNREAD_BYTES = 256 * 1024;
/** With port 0, the TCP port must match the one UDP got; another process may hold it over TCP. */
const EPHEMERAL_TRIES = 5;
const HEADER_BYTES = 12;
const RCODE_FORMERR = 1;

/**
 * The resolver that dockerd's embedded DNS asks (over UDP, and over TCP after a truncated
 * answer) for the names of containers on other hosts. Socket errors are logged, never thrown.
 */
export class DnsServer implements Lifecycle {
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private readonly connections = new Set<Socket>();
  private boundPort = 0;
  private stopping: Promise<void> | undefined;
  private readonly ttlSeconds: number;

  constructor(private readonly options: DnsServerOptions) {
    this.ttlSeconds = options.ttlSeconds ?? 5;
  }

  /** The port bound (the one chosen by the system when asked for port 0); 0 before start(). */
  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    const { address, port } = this.options;
    const family = isIP(address);
    if (family === 0) throw new Error(`DNS server address "${address}" is not an IP address`);
    for (let attempt = 1; ; attempt++) {
      const udp = await this.bindUdp(family === 6 ? 'udp6' : 'udp4', address, port);
      const udpPort = udp.address().port;
      try {
        this.tcp = await this.listenTcp(address, udpPort);
      } catch (err) {
        await closeUdp(udp);
        if (port === 0 && errnoOf(err) === 'EADDRINUSE' && attempt < EPHEMERAL_TRIES) continue;
        throw err;
      }
      this.udp = udp;
      this.boundPort = udpPort;
      return;
    }
  }

  /** Closes both sockets and every open TCP connection; safe to call more than once. */
  stop(): Promise<void> {
    this.stopping ??= this.close();
    return this.stopping;
  }

  private async close(): Promise<void> {
    const { udp, tcp } = this;
    this.udp = undefined;
    this.tcp = undefined;
    for (const socket of this.connections) socket.destroy();
    this.connections.clear();
    await Promise.all([udp && closeUdp(udp), tcp && new Promise<void>((resolve) => tcp.close(() => resolve()))]);
  }

  private bindUdp(type: 'udp4' | 'udp6', address: string, port: number): Promise<UdpSocket> {
    const udp = createSocket({ type });
    return new Promise((resolve, reject) => {
      udp.once('error', (err) => {
        void closeUdp(udp);
        reject(bindError('udp', address, port, err));
      });
      udp.once('listening', () => {
        udp.removeAllListeners('error');
        udp.on('error', (err) => this.options.log.warn({ err }, 'DNS UDP socket error'));
        udp.on('message', (msg, rinfo) => this.onDatagram(udp, msg, rinfo.address, rinfo.port));
        resolve(udp);
      });
      udp.bind(port, address);
    });
  }

  private listenTcp(address: string, port: number): Promise<Server> {
    const server = createServer((socket) => this.onConnection(socket));
    return new Promise((resolve, reject) => {
      server.once('error', (err) => {
        server.close();
        reject(bindError('tcp', address, port, err));
      });
      server.listen({ host: address, port }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.options.log.warn({ err }, 'DNS TCP server error'));
        resolve(server);
      });
    });
  }

  private onDatagram(udp: UdpSocket, msg: Buffer, address: string, port: number): void {
    // A datagram that is itself a response is dropped, not answered with FORMERR: two resolvers
    // (or one and a spoofed source) would otherwise answer each other's errors forever.
    if (msg.length >= 3 && ((msg[2] as number) & 0x80) !== 0) return;
    const source = sourceOf(address);
    const learning = this.options.names.prepare?.(source);
    if (learning) void learning.then(() => this.answerDatagram(udp, msg, source, address, port), () => this.answerDatagram(udp, msg, source, address, port));
    else this.answerDatagram(udp, msg, source, address, port);
  }

  private answerDatagram(udp: UdpSocket, msg: Buffer, source: string, address: string, port: number): void {
    if (this.stopping !== undefined) return;
    const reply = answerQuery(msg, source, this.options.names, this.ttlSeconds, { transport: 'udp' });
    if (reply === undefined) return;
    this.options.onAnswer?.(outcomeOf(reply));
    udp.send(reply, port, address, (err) => {
      if (err) this.options.log.warn({ err, to: address }, 'DNS UDP answer not sent');
    });
  }

  private onConnection(socket: Socket): void {
    socket.on('error', (err) => this.options.log.warn({ err, from: socket.remoteAddress }, 'DNS TCP connection error'));
    if (this.connections.size >= MAX_TCP_CONNECTIONS || this.stopping !== undefined) {
      socket.destroy();
      return;
    }
    const source = sourceOf(socket.remoteAddress ?? '');
    // Frames wait for the source to be learned, in order (promise callbacks run in the order they were added).
    const learned = this.options.names.prepare?.(source)?.catch(() => undefined) ?? Promise.resolve();
    this.connections.add(socket);
    socket.on('close', () => this.connections.delete(socket));
    socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
    let pending: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      if (socket.writableEnded) return; // hung up after a FORMERR: the rest is not read
      // RFC 1035 §4.2.2: each message is preceded by its length in two bytes, so no frame can
      // exceed 65535 bytes and `pending` stays below one frame plus one chunk.
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && !socket.destroyed && !socket.writableEnded) {
        const length = pending.readUInt16BE(0);
        // Shorter than a header: not a DNS message, and nothing after it can be trusted to be framed.
        if (length < HEADER_BYTES) {
          socket.destroy();
          return;
        }
        if (pending.length < 2 + length) return;
        const query = pending.subarray(2, 2 + length);
        pending = pending.subarray(2 + length);
        void learned.then(() => { if (!socket.destroyed && !socket.writableEnded) this.onFrame(socket, query, source); });
      }
    });
  }

  private onFrame(socket: Socket, query: Buffer, source: string): void {
    const reply = answerQuery(query, source, this.options.names, this.ttlSeconds, { transport: 'tcp' });
    if (reply !== undefined) this.options.onAnswer?.(outcomeOf(reply));
    if (reply === undefined || socket.writableLength > MAX_UNREAD_BYTES) {
      socket.destroy();
      return;
    }
    const frame = Buffer.alloc(2 + reply.length);
    frame.writeUInt16BE(reply.length, 0);
    reply.copy(frame, 2);
    // A message that cannot be read means the stream is garbage: say so once, then hang up.
    if (((reply[3] as number) & 0xf) === RCODE_FORMERR) socket.end(frame);
    else socket.write(frame);
  }
}

/** The container's address as Docker's DNS sees it: `::ffff:10.0.0.2` on a dual-stack socket is 10.0.0.2. */
function sourceOf(address: string): string {
  const mapped = /^::ffff:(.*)$/i.exec(address)?.[1];
  return mapped !== undefined && isIP(mapped) === 4 ? mapped : address;
}

function bindError(protocol: 'udp' | 'tcp', address: string, port: number, err: Error): Error {
  const where = isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
  const code = errnoOf(err) ?? 'unknown error';
  return Object.assign(new Error(`DNS server cannot bind ${protocol} ${where}: ${code} (${err.message})`, { cause: err }), { code });
}

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

function closeUdp(udp: UdpSocket): Promise<void> {
  return new Promise((resolve) => {
    try {
      udp.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}
