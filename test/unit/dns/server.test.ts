import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import { once } from 'node:events';
import { decode as decodePacket, encode, type DecodedPacket, type StringAnswer } from 'dns-packet';
import { pino } from 'pino';
import { afterEach, describe, expect, test } from 'vitest';
import type { NameAnswer, NameSource } from '../../../src/dns/answer.js';
import { DnsServer } from '../../../src/dns/server.js';

/** dns-packet's decode; it reads the rcode and opcode too, which @types/dns-packet leaves out. */
const decode = (buf: Buffer) => decodePacket(buf) as DecodedPacket & { readonly rcode: string; readonly opcode: string };

const HOST = '127.0.0.1';
const log = pino({ level: 'silent' });

class FakeNames implements NameSource {
  readonly sources: string[] = [];
  lookup(name: string, source: string): NameAnswer {
    this.sources.push(source);
    return name === 'web' ? { kind: 'found', ipv4: ['10.0.0.2'], ipv6: [] } : { kind: 'unknown' };
  }
}

const servers: DnsServer[] = [];
async function started(names: NameSource = new FakeNames(), port = 0): Promise<DnsServer> {
  const server = new DnsServer({ address: HOST, port, names, log });
  servers.push(server);
  await server.start();
  return server;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

const query = (id: number, name = 'web') => encode({ type: 'query', id, questions: [{ type: 'A', name }] });

/** Sends one datagram and resolves with the reply, or undefined after `waitMs`. */
async function udpAsk(port: number, message: Buffer, waitMs = 2_000): Promise<Buffer | undefined> {
  const socket = createSocket('udp4');
  try {
    const reply = new Promise<Buffer | undefined>((resolve) => {
      socket.once('message', (msg) => resolve(msg));
      setTimeout(() => resolve(undefined), waitMs);
    });
    socket.send(message, port, HOST);
    return await reply;
  } finally {
    socket.close();
  }
}

function frame(message: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(message.length);
  return Buffer.concat([length, message]);
}

/** A TCP client that collects the framed messages it receives. */
async function tcpClient(port: number) {
  const socket = connect(port, HOST);
  await once(socket, 'connect');
  let pending = Buffer.alloc(0);
  const messages: Buffer[] = [];
  const closed = once(socket, 'close');
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
      messages.push(pending.subarray(2, 2 + pending.readUInt16BE(0)));
      pending = pending.subarray(2 + pending.readUInt16BE(0));
    }
  });
  const waitFor = async (count: number) => {
    for (let i = 0; i < 200 && messages.length < count; i++) await new Promise((r) => setTimeout(r, 10));
    return messages;
  };
  return { socket, messages, closed, waitFor };
}

describe('DnsServer', () => {
  test('answers over UDP to the sender, and asks with the sender\'s address as source', async () => {
    const names = new FakeNames();
    const server = await started(names);
    expect(server.port).toBeGreaterThan(0);
    const reply = await udpAsk(server.port, query(11));
    if (!reply) throw new Error('no UDP reply');
    const packet = decode(reply);
    expect(packet).toMatchObject({ id: 11, rcode: 'NOERROR' });
    expect(packet.answers?.map((a) => (a as StringAnswer).data)).toEqual(['10.0.0.2']);
    expect(names.sources).toEqual(['127.0.0.1']);
    expect(decode((await udpAsk(server.port, query(12, 'elsewhere.example'))) ?? Buffer.alloc(0)).rcode).toBe('REFUSED');
  });

  test('answers two queries on one TCP connection, source 127.0.0.1', async () => {
    const names = new FakeNames();
    const server = await started(names);
    const client = await tcpClient(server.port);
    // Both queries in one write, the second split across two: framing, not packet boundaries.
    const second = frame(query(22, 'other'));
    client.socket.write(Buffer.concat([frame(query(21)), second.subarray(0, 5)]));
    await new Promise((r) => setTimeout(r, 20));
    client.socket.write(second.subarray(5));
    const messages = await client.waitFor(2);
    expect(messages.map((m) => decode(m)).map((p) => [p.id, p.rcode])).toEqual([[21, 'NOERROR'], [22, 'REFUSED']]);
    expect(names.sources).toEqual(['127.0.0.1', '127.0.0.1']);
    client.socket.destroy();
  });

  test('garbage over TCP closes that connection; the server still answers', async () => {
    const server = await started();
    const short = await tcpClient(server.port);
    short.socket.write(frame(Buffer.from('hello'))); // shorter than a DNS header
    await short.closed;
    const junk = await tcpClient(server.port);
    junk.socket.write(frame(Buffer.from('\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xfe\xfd not dns at all', 'latin1')));
    await junk.closed;
    expect(decode(junk.messages[0] ?? Buffer.alloc(0))).toMatchObject({ id: 7, rcode: 'FORMERR' });
    expect(decode((await udpAsk(server.port, query(31))) ?? Buffer.alloc(0))).toMatchObject({ id: 31, rcode: 'NOERROR' });
    const again = await tcpClient(server.port);
    again.socket.write(frame(query(32)));
    expect(decode((await again.waitFor(1))[0] ?? Buffer.alloc(0)).id).toBe(32);
    again.socket.destroy();
  });

  test('a UDP datagram that is itself a response gets no answer', async () => {
    const server = await started();
    const response = encode({ type: 'response', id: 41, questions: [{ type: 'A', name: 'web' }] });
    expect(await udpAsk(server.port, response, 200)).toBeUndefined();
  });

  test('at most 64 TCP connections: the 65th is closed at once', async () => {
    const server = await started();
    const clients = await Promise.all(Array.from({ length: 64 }, () => tcpClient(server.port)));
    await new Promise((r) => setTimeout(r, 50));
    const extra = await tcpClient(server.port);
    await extra.closed;
    const first = clients[0];
    if (!first) throw new Error('no client');
    first.socket.write(frame(query(51)));
    expect(decode((await first.waitFor(1))[0] ?? Buffer.alloc(0)).id).toBe(51);
    for (const c of clients) c.socket.destroy();
  });

  test('start() on a port already bound over UDP rejects naming the address and port', async () => {
    const holder = createSocket('udp4');
    holder.bind(0, HOST);
    await once(holder, 'listening');
    const port = holder.address().port;
    try {
      await expect(started(new FakeNames(), port)).rejects.toThrow(`udp ${HOST}:${port}: EADDRINUSE`);
    } finally {
      holder.close();
    }
  });

  test('start() on a port already bound over TCP rejects and releases the UDP port it took', async () => {
    const holder = createServer();
    holder.listen(0, HOST);
    await once(holder, 'listening');
    const address = holder.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    try {
      await expect(started(new FakeNames(), address.port)).rejects.toThrow(`tcp ${HOST}:${address.port}: EADDRINUSE`);
      const probe = createSocket('udp4');
      probe.bind(address.port, HOST);
      await once(probe, 'listening'); // would emit 'error' if the failed start had kept it
      probe.close();
    } finally {
      holder.close();
    }
  });

  test('stop() closes open connections and can be called twice', async () => {
    const server = await started();
    const client = await tcpClient(server.port);
    await Promise.all([server.stop(), client.closed]);
    await server.stop();
    expect(await udpAsk(server.port, query(61), 200)).toBeUndefined();
    expect(await new DnsServer({ address: HOST, port: 0, names: new FakeNames(), log }).stop()).toBeUndefined();
  });
});

describe('DnsServer with a source that must be learned first', () => {
  /** Knows nobody until prepare() has run for a source (as a container tsnet has not looked at yet). */
  class LearningNames implements NameSource {
    readonly known = new Set<string>();
    prepares = 0;
    lookup(name: string, source: string): NameAnswer {
      return this.known.has(source) && name === 'web' ? { kind: 'found', ipv4: ['10.0.0.2'], ipv6: [] } : { kind: 'unknown' };
    }
    prepare(source: string): Promise<void> | undefined {
      if (this.known.has(source)) return undefined;
      this.prepares += 1;
      return new Promise((resolve) => setTimeout(() => { this.known.add(source); resolve(); }, 50));
    }
  }

  test('UDP and TCP answers wait for prepare(), and TCP keeps the order of the queries', async () => {
    const names = new LearningNames();
    const server = await started(names);
    const udp = await udpAsk(server.port, query(1));
    expect(decode(udp as Buffer).answers).toEqual([expect.objectContaining({ type: 'A', data: '10.0.0.2' })]);
    names.known.clear();
    const client = await tcpClient(server.port);
    client.socket.write(Buffer.concat([frame(query(2)), frame(query(3, 'other'))]));
    const [first, second] = await client.waitFor(2);
    expect(decode(first as Buffer)).toMatchObject({ id: 2, rcode: 'NOERROR' });
    expect(decode(second as Buffer)).toMatchObject({ id: 3, rcode: 'REFUSED' });
    expect(names.prepares).toBe(2);
    client.socket.destroy();
  });
});

describe('DnsServer outcomes (metrics)', () => {
  test('each answered query is reported once, by outcome', async () => {
    const outcomes: string[] = [];
    const server = new DnsServer({ address: HOST, port: 0, names: new FakeNames(), log, onAnswer: (o) => outcomes.push(o) });
    servers.push(server);
    await server.start();
    await udpAsk(server.port, query(1));
    await udpAsk(server.port, query(2, 'nobody'));
    await udpAsk(server.port, encode({ type: 'query', id: 3, questions: [{ type: 'MX', name: 'web' }] }));
    const garbage = Buffer.alloc(20, 0xff);
    garbage[2] = 0x01; // a query (QR clear) whose body cannot be read
    await udpAsk(server.port, garbage);
    expect(outcomes).toEqual(['answered', 'refused', 'nodata', expect.stringMatching(/^(formerr|notimp)$/)]);
  });
});
