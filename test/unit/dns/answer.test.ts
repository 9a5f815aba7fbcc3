import { decode as decodePacket, encode, RECURSION_DESIRED, type DecodedPacket, type Packet, type Question, type StringAnswer } from 'dns-packet';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { answerQuery, reverseAddress, truncateForUdp, type NameAnswer, type NameSource } from '../../../src/dns/answer.js';

/** dns-packet's decode; it reads the rcode and opcode too, which @types/dns-packet leaves out. */
const decode = (buf: Buffer) => decodePacket(buf) as DecodedPacket & { readonly rcode: string; readonly opcode: string };

/** Knows `web` (two IPv4, one IPv6) and `many` (100 IPv4); records what it was asked. */
class FakeNames implements NameSource {
  readonly asked: Array<{ name: string; source: string }> = [];
  lookup(name: string, source: string): NameAnswer {
    this.asked.push({ name, source });
    if (name === 'web') return { kind: 'found', ipv4: ['10.0.0.2', '10.0.0.3'], ipv6: ['fd00::2'] };
    if (name === 'many') return { kind: 'found', ipv4: Array.from({ length: 100 }, (_, i) => `10.1.0.${i + 1}`), ipv6: [] };
    return { kind: 'unknown' };
  }

  /** `10.0.0.2` and `fd00::2` are web's. */
  reverse(ip: string, source: string): string | undefined {
    this.asked.push({ name: `reverse ${ip}`, source });
    return ip === '10.0.0.2' || ip === 'fd00::2' ? 'web.blue' : undefined;
  }
}

const SOURCE = '10.0.0.9';

function query(question: Question, extra: Partial<Packet> = {}): Buffer {
  return encode({ type: 'query', id: 4242, flags: RECURSION_DESIRED, questions: [question], ...extra });
}

function ask(q: Buffer, names: NameSource = new FakeNames(), transport: 'udp' | 'tcp' = 'udp') {
  const reply = answerQuery(q, SOURCE, names, 5, { transport });
  if (reply === undefined) throw new Error('no reply');
  return { reply, packet: decode(reply) };
}

const data = (answers: Packet['answers']) => (answers ?? []).map((a) => (a as StringAnswer).data);

describe('answerQuery', () => {
  test('A for a known name: one record per IPv4 in the order given, TTL, not authoritative, RD copied', () => {
    const names = new FakeNames();
    const { packet } = ask(query({ type: 'A', name: 'web' }), names);
    expect(packet).toMatchObject({ id: 4242, type: 'response', rcode: 'NOERROR', flag_aa: false, flag_ra: false, flag_rd: true, flag_tc: false });
    expect(packet.questions).toEqual([{ type: 'A', name: 'web', class: 'IN' }]);
    expect(data(packet.answers)).toEqual(['10.0.0.2', '10.0.0.3']);
    expect(packet.answers?.every((a) => a.type === 'A' && a.name === 'web' && a.ttl === 5)).toBe(true);
    expect(names.asked).toEqual([{ name: 'web', source: SOURCE }]);
  });

  test('AAAA gives the IPv6 addresses, ANY both', () => {
    expect(data(ask(query({ type: 'AAAA', name: 'web' })).packet.answers)).toEqual(['fd00::2']);
    const any = ask(query({ type: 'ANY' as Question['type'], name: 'web' })).packet;
    expect(any.answers?.map((a) => a.type)).toEqual(['A', 'A', 'AAAA']);
  });

  test('MX for a known name: NOERROR without records (the name exists)', () => {
    const { packet } = ask(query({ type: 'MX', name: 'web' }));
    expect(packet.rcode).toBe('NOERROR');
    expect(packet.answers).toEqual([]);
    expect(packet.questions).toEqual([{ type: 'MX', name: 'web', class: 'IN' }]);
  });

  test('an unknown name is REFUSED, not authoritative, question echoed', () => {
    const { packet } = ask(query({ type: 'A', name: 'example.com' }));
    expect(packet).toMatchObject({ rcode: 'REFUSED', flag_aa: false, flag_ra: false, flag_qr: true });
    expect(packet.answers).toEqual([]);
    expect(packet.questions).toEqual([{ type: 'A', name: 'example.com', class: 'IN' }]);
  });

  test('a mixed-case question is looked up in lower case and echoed as asked', () => {
    const names = new FakeNames();
    const { packet } = ask(query({ type: 'A', name: 'WeB' }), names);
    expect(names.asked[0]?.name).toBe('web');
    expect(packet.questions?.[0]?.name).toBe('WeB');
    expect(packet.answers?.map((a) => a.name)).toEqual(['WeB', 'WeB']);
  });

  test('a trailing dot is not part of the name', () => {
    const names = new FakeNames();
    expect(ask(query({ type: 'A', name: 'web.' }), names).packet.rcode).toBe('NOERROR');
    expect(names.asked[0]?.name).toBe('web');
  });

  test('a label of 64 bytes or a name over 253 characters is REFUSED without asking', () => {
    const names = new FakeNames();
    expect(ask(query({ type: 'A', name: `${'a'.repeat(64)}.web` }), names).packet.rcode).toBe('REFUSED');
    const long = Array.from({ length: 4 }, () => 'b'.repeat(63)).join('.'); // 255 characters
    expect(ask(raw(long), names).packet.rcode).toBe('REFUSED');
    expect(ask(query({ type: 'A', name: '.' }), names).packet.rcode).toBe('REFUSED');
    expect(names.asked).toEqual([]);
  });

  test('two questions, or a response sent as a query, are FORMERR', () => {
    const two = encode({ type: 'query', id: 7, questions: [{ type: 'A', name: 'web' }, { type: 'A', name: 'web' }] });
    expect(ask(two).packet).toMatchObject({ id: 7, rcode: 'FORMERR', flag_qr: true });
    const response = encode({ type: 'response', id: 8, questions: [{ type: 'A', name: 'web' }] });
    expect(ask(response).packet).toMatchObject({ id: 8, rcode: 'FORMERR' });
  });

  test('opcode STATUS (2) is NOTIMP with the opcode copied', () => {
    const q = query({ type: 'A', name: 'web' });
    q.writeUInt16BE(q.readUInt16BE(2) | (2 << 11), 2);
    expect(ask(q).packet).toMatchObject({ id: 4242, rcode: 'NOTIMP', opcode: 'STATUS', flag_rd: true });
  });

  test('class CH is REFUSED', () => {
    const names = new FakeNames();
    expect(ask(query({ type: 'A', name: 'web', class: 'CH' }), names).packet).toMatchObject({ rcode: 'REFUSED', questions: [{ name: 'web', class: 'CH' }] });
    expect(names.asked).toEqual([]);
  });

  test('a lookup that throws is SERVFAIL, so Docker asks its next server', () => {
    const broken: NameSource = { lookup: () => { throw new Error('store gone'); } };
    expect(ask(query({ type: 'A', name: 'web' }), broken).packet.rcode).toBe('SERVFAIL');
  });

  test('garbage and truncated queries: FORMERR with the id when the header is there, dropped when not', () => {
    const garbage = [
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0x3f, 0x61]),
      Buffer.from([0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1]),
      Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 3, 119, 101, 98, 0, 0, 1, 0, 1, 0xff, 0xff]),
      Buffer.alloc(12, 0xff),
    ];
    for (const g of garbage) {
      const { packet } = ask(g);
      expect(packet.id).toBe(g.readUInt16BE(0));
      expect(packet.flag_qr).toBe(true);
    }
    const full = query({ type: 'A', name: 'web' });
    for (let cut = 12; cut < full.length; cut++) expect(ask(full.subarray(0, cut)).packet.rcode).toBe('FORMERR');
    for (let cut = 0; cut < 12; cut++) expect(answerQuery(full.subarray(0, cut), SOURCE, new FakeNames(), 5)).toBeUndefined();
  });

  test('never throws; undefined only under 12 bytes; otherwise a response dns-packet reads, with the id', () => {
    const nearQuery = fc.tuple(fc.constantFrom(...(['A', 'AAAA', 'ANY', 'MX', 'TXT'] as Question['type'][])), fc.constantFrom('web', 'WEB.', 'many', 'x.y', '.'), fc.nat(200), fc.integer({ min: 0, max: 255 }), fc.boolean())
      .map(([type, name, cut, xor, edns]) => {
        const q = query({ type, name }, edns ? { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] } : {});
        const at = cut % q.length;
        q[at] = (q[at] as number) ^ xor; // one corrupted byte (none when xor is 0)
        return cut % 4 === 0 ? q.subarray(0, q.length - 1 - (cut % 7)) : q; // a quarter cut short
      });
    const input = fc.oneof(fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)), nearQuery);
    expect(() => fc.assert(fc.property(input, fc.constantFrom<'udp' | 'tcp'>('udp', 'tcp'), (q, transport) => {
      const reply = answerQuery(q, SOURCE, new FakeNames(), 5, { transport });
      if (q.length < 12) return reply === undefined;
      if (reply === undefined) return false;
      const packet = decode(reply);
      return packet.id === q.readUInt16BE(0) && packet.flag_qr && (transport === 'tcp' || reply.length <= 1232);
    }), { numRuns: 2000, seed: 53 })).not.toThrow();
  });

  test('100 addresses over UDP: TC set, answers dropped, within 512 bytes; over TCP all of them', () => {
    const { reply, packet } = ask(query({ type: 'A', name: 'many' }));
    expect(reply.length).toBeLessThanOrEqual(512);
    expect(packet).toMatchObject({ rcode: 'NOERROR', flag_tc: true, answers: [], questions: [{ name: 'many', type: 'A' }] });
    const tcp = ask(query({ type: 'A', name: 'many' }), new FakeNames(), 'tcp');
    expect(tcp.packet.flag_tc).toBe(false);
    expect(tcp.packet.answers).toHaveLength(100);
  });

  test('EDNS0: the OPT size raises the UDP limit, capped at 1232, and the response carries an OPT', () => {
    const opt = (udpPayloadSize: number): Partial<Packet> => ({ additionals: [{ type: 'OPT', name: '.', udpPayloadSize, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] });
    const big = ask(query({ type: 'A', name: 'many' }, opt(4096)));
    // 100 uncompressed A records are about 2 kB: over 1232 even though the client said 4096.
    expect(big.reply.length).toBeLessThanOrEqual(1232);
    expect(big.packet.flag_tc).toBe(true);
    expect(big.packet.additionals).toMatchObject([{ type: 'OPT', udpPayloadSize: 1232 }]);
    const fits = ask(query({ type: 'A', name: 'web' }, opt(4096)));
    expect(fits.packet.flag_tc).toBe(false);
    expect(fits.packet.answers).toHaveLength(2);
    expect(fits.packet.additionals).toMatchObject([{ type: 'OPT' }]);
  });
});

describe('reverse (PTR) lookups', () => {
  test('PTR of a known IPv4 or IPv6 address answers its name; the asker is passed on', () => {
    const names = new FakeNames();
    const v4 = ask(query({ type: 'PTR', name: '2.0.0.10.in-addr.arpa' }), names).packet;
    expect(v4).toMatchObject({ rcode: 'NOERROR', flag_aa: false });
    expect(v4.answers).toEqual([expect.objectContaining({ type: 'PTR', name: '2.0.0.10.in-addr.arpa', ttl: 5, data: 'web.blue' })]);
    const nibbles = '2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa';
    expect(data(ask(query({ type: 'PTR', name: nibbles.toUpperCase() }), names).packet.answers)).toEqual(['web.blue']);
    expect(names.asked).toEqual([{ name: 'reverse 10.0.0.2', source: SOURCE }, { name: 'reverse fd00::2', source: SOURCE }]);
  });

  test('an unknown address, a partial reverse name or a source without reverse lookups is REFUSED; another type of a known one is NODATA', () => {
    expect(ask(query({ type: 'PTR', name: '9.0.0.10.in-addr.arpa' })).packet.rcode).toBe('REFUSED');
    expect(ask(query({ type: 'PTR', name: '0.10.in-addr.arpa' })).packet.rcode).toBe('REFUSED');
    const lookupsOnly: NameSource = { lookup: () => ({ kind: 'unknown' }) };
    expect(ask(query({ type: 'PTR', name: '2.0.0.10.in-addr.arpa' }), lookupsOnly).packet.rcode).toBe('REFUSED');
    const a = ask(query({ type: 'A', name: '2.0.0.10.in-addr.arpa' })).packet;
    expect(a).toMatchObject({ rcode: 'NOERROR', answers: [] });
  });

  test('a reverse lookup that throws is SERVFAIL (Docker asks its next server)', () => {
    const broken: NameSource = { lookup: () => ({ kind: 'unknown' }), reverse: () => { throw new Error('bug'); } };
    expect(ask(query({ type: 'PTR', name: '2.0.0.10.in-addr.arpa' }), broken).packet.rcode).toBe('SERVFAIL');
  });

  test('reverseAddress reads whole in-addr.arpa and ip6.arpa names only', () => {
    expect(reverseAddress('4.3.2.1.in-addr.arpa')).toBe('1.2.3.4');
    expect(reverseAddress('b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa')).toBe('4321:0:1:2:3:4:567:89ab');
    expect(reverseAddress('1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa')).toBe('::1');
    for (const bad of ['3.2.1.in-addr.arpa', '256.3.2.1.in-addr.arpa', '04.3.2.1.in-addr.arpa', 'x.3.2.1.in-addr.arpa', '4.3.2.1.in-addr.arpa.example', '1.ip6.arpa', 'web', 'arpa']) {
      expect(reverseAddress(bad), bad).toBeUndefined();
    }
  });
});

describe('truncateForUdp', () => {
  test('leaves a response that fits, and cuts one that does not to header and question with TC', () => {
    const response = encode({ type: 'response', id: 9, flags: RECURSION_DESIRED, questions: [{ type: 'A', name: 'many' }], answers: Array.from({ length: 40 }, (_, i) => ({ type: 'A' as const, name: 'many', ttl: 5, data: `10.1.0.${i + 1}` })) });
    expect(truncateForUdp(response, 4096)).toBe(response);
    const cut = truncateForUdp(response);
    expect(cut.length).toBeLessThanOrEqual(512);
    expect(decode(cut)).toMatchObject({ id: 9, flag_tc: true, flag_rd: true, answers: [], questions: [{ name: 'many' }] });
  });
});

/** A query whose name dns-packet would refuse to read back, built byte by byte. */
function raw(name: string): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]));
  const head = Buffer.from([0x10, 0x01, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([head, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}
