import { isIP } from 'node:net';
import { decode, encode, type Answer, type DecodedPacket, type OptAnswer } from 'dns-packet';
import { bigIntToIp } from '../core/net.js';

/** What the resolver knows of a name, asked by the container at `source` (its IP as seen by the resolver). */
export type NameAnswer =
  | { readonly kind: 'unknown' } // not ours: answer REFUSED so Docker's embedded DNS tries its next server
  | { readonly kind: 'found'; readonly ipv4: readonly string[]; readonly ipv6: readonly string[] };

export interface NameSource {
  /** `name` is lower-case, without the trailing dot. */
  lookup(name: string, source: string): NameAnswer;
  /**
   * The name (without the trailing dot) that address `ip` answers to for the container at
   * `source`, for a reverse (PTR) query; undefined when it is not one of ours.
   */
  reverse?(ip: string, source: string): string | undefined;
  /**
   * Called before the lookups of a query from `source`: a promise when the source must first
   * be learned (a container that started a moment ago), which the server awaits before it
   * answers; undefined when lookups can be answered now.
   */
  prepare?(source: string): Promise<void> | undefined;
}

export interface AnswerOptions {
  /** 'udp' (the default) truncates a response to what the client can take in one datagram. */
  readonly transport?: 'udp' | 'tcp';
}

const HEADER_BYTES = 12;
const FLAG_QR = 0x8000;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const OPCODE_MASK = 0x7800;

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NOTIMP: 4, REFUSED: 5 } as const;
type Rcode = (typeof RCODE)[keyof typeof RCODE];

const TYPE_A = 1;
const TYPE_PTR = 12;
const TYPE_AAAA = 28;
const TYPE_ANY = 255;
const CLASS_IN = 1;

/** RFC 1035's limit for a datagram without EDNS0. */
const CLASSIC_UDP_BYTES = 512;
/** The DNS flag day 2020 size: larger datagrams fragment on common paths, so a bigger OPT is not believed. */
const MAX_UDP_BYTES = 1232;
const MAX_LABEL_BYTES = 63;
const MAX_NAME_CHARS = 253;
/** RFC 2181 §8: a TTL is at most 2^31 - 1. */
const MAX_TTL = 0x7fffffff;

/**
 * Answers one DNS query for the names tsnet holds. Only what tsnet knows gets an answer: any
 * other name is REFUSED, never NXDOMAIN, because Docker's embedded DNS moves on to its next
 * server on REFUSED but hands an NXDOMAIN back to the container. Returns undefined (drop) only
 * for a buffer shorter than a DNS header; never throws.
 */
export function answerQuery(query: Buffer, source: string, names: NameSource, ttlSeconds: number, options: AnswerOptions = {}): Buffer | undefined {
  if (query.length < HEADER_BYTES) return undefined;
  const id = query.readUInt16BE(0);
  const flags = query.readUInt16BE(2);
  try {
    const { response, udpLimit } = respond(query, flags, source, names, ttlSeconds);
    return options.transport === 'tcp' ? response : truncateForUdp(response, udpLimit);
  } catch {
    // A bug of ours on some input: a FORMERR still tells the client the query got no answer.
    return header(id, flags, RCODE.FORMERR);
  }
}

/**
 * Fits a response into one datagram of `maxBytes`: when it is longer, the answer and authority
 * sections are dropped and TC is set, so the client asks again over TCP (RFC 2181 §9). The
 * question and an OPT record are kept when they fit. Never throws.
 */
export function truncateForUdp(response: Buffer, maxBytes = CLASSIC_UDP_BYTES): Buffer {
  if (response.length <= maxBytes || response.length < HEADER_BYTES) return response;
  // The response's own header, TC set, its sections emptied until they are put back below.
  const head = Buffer.from(response.subarray(0, HEADER_BYTES));
  head.writeUInt16BE(head.readUInt16BE(2) | FLAG_TC, 2);
  head.fill(0, 4);
  try {
    let end = HEADER_BYTES;
    const questions = response.readUInt16BE(4);
    for (let i = 0; i < questions; i++) end = skipName(response, end) + 4;
    if (end > maxBytes) return head;
    head.writeUInt16BE(questions, 4);
    const opt = optOf(response);
    const optBytes = opt === undefined ? undefined : section([opt]);
    if (optBytes === undefined || end + optBytes.length > maxBytes) return Buffer.concat([head, response.subarray(HEADER_BYTES, end)]);
    head.writeUInt16BE(1, 10);
    return Buffer.concat([head, response.subarray(HEADER_BYTES, end), optBytes]);
  } catch {
    head.fill(0, 4);
    return head;
  }
}

/** A response, with the datagram size the query allows (512, or its OPT's size up to 1232). */
interface Response {
  readonly response: Buffer;
  readonly udpLimit: number;
}

function respond(query: Buffer, flags: number, source: string, names: NameSource, ttlSeconds: number): Response {
  const id = query.readUInt16BE(0);
  const plain = (rcode: Rcode): Response => ({ response: header(id, flags, rcode), udpLimit: CLASSIC_UDP_BYTES });
  if ((flags & FLAG_QR) !== 0) return plain(RCODE.FORMERR);
  if ((flags & OPCODE_MASK) !== 0) return plain(RCODE.NOTIMP);
  if (query.readUInt16BE(4) !== 1) return plain(RCODE.FORMERR);

  const question = readQuestion(query);
  if (question === undefined) return plain(RCODE.FORMERR);
  // Not echoed: a label over 63 bytes cannot be written back as a name any client would read.
  if (!wireValid(question.labels)) return plain(RCODE.REFUSED);

  let packet: DecodedPacket;
  try {
    packet = decode(query);
  } catch {
    return plain(RCODE.FORMERR);
  }
  const opts = (packet.additionals ?? []).filter(isOpt);
  if (opts.length > 1) return plain(RCODE.FORMERR); // RFC 6891 §6.1.1
  const queryOpt = opts[0];
  const udpLimit = queryOpt === undefined ? CLASSIC_UDP_BYTES : Math.min(MAX_UDP_BYTES, Math.max(CLASSIC_UDP_BYTES, queryOpt.udpPayloadSize));
  // RFC 6891 §7: a response to a query with OPT carries one; ours states the size we would take.
  const opt: OptAnswer | undefined = queryOpt && { type: 'OPT', name: '.', udpPayloadSize: MAX_UDP_BYTES, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
  const reply = (rcode: Rcode, answers: Answer[] = []): Response => {
    const head = header(id, flags, rcode, { questions: 1, answers: answers.length, additionals: opt ? 1 : 0 });
    const body = [head, query.subarray(HEADER_BYTES, question.end)];
    if (answers.length > 0) body.push(section(answers));
    if (opt) body.push(section([opt]));
    return { response: Buffer.concat(body), udpLimit };
  };

  const asked = nameOf(question.labels);
  if (asked === undefined || question.klass !== CLASS_IN) return reply(RCODE.REFUSED);
  const ttl = Number.isFinite(ttlSeconds) ? Math.min(MAX_TTL, Math.max(0, Math.floor(ttlSeconds))) : 0;

  const reversed = reverseAddress(asked.toLowerCase());
  if (reversed !== undefined) {
    let target: string | undefined;
    try {
      target = names.reverse?.(reversed, source);
    } catch {
      return reply(RCODE.SERVFAIL);
    }
    if (target === undefined || !wireValid(target.split('.').map((l) => Buffer.from(l, 'latin1')))) return reply(RCODE.REFUSED);
    // Any other type asked of an address we know: NODATA, as for a name.
    const ptr: Answer[] = question.type === TYPE_PTR || question.type === TYPE_ANY ? [{ type: 'PTR', name: asked, ttl, data: target }] : [];
    return reply(RCODE.NOERROR, ptr);
  }

  let known: NameAnswer;
  try {
    known = names.lookup(asked.toLowerCase(), source);
  } catch {
    // SERVFAIL, not FORMERR: Docker then asks its next server, and the query was well formed.
    return reply(RCODE.SERVFAIL);
  }
  if (known.kind !== 'found') return reply(RCODE.REFUSED);

  const answers: Answer[] = [];
  // Records keep the name as asked: some stub resolvers compare it byte for byte with the question.
  if (question.type === TYPE_A || question.type === TYPE_ANY) {
    for (const ip of known.ipv4) if (isIP(ip) === 4) answers.push({ type: 'A', name: asked, ttl, data: ip });
  }
  if (question.type === TYPE_AAAA || question.type === TYPE_ANY) {
    for (const ip of known.ipv6) if (isIP(ip) === 6) answers.push({ type: 'AAAA', name: asked, ttl, data: ip });
  }
  // Any other type: NOERROR with no records, since the name exists (NODATA, RFC 2308 §2.2).
  return reply(RCODE.NOERROR, answers);
}

/**
 * A response header: QR set, the query's opcode and RD copied; AA and RA clear, since tsnet is
 * neither the authority for these names (an authoritative NXDOMAIN would stop Docker's fallback)
 * nor a recursive resolver.
 */
function header(id: number, flags: number, rcode: Rcode, counts: { questions?: number; answers?: number; additionals?: number } = {}): Buffer {
  const head = Buffer.alloc(HEADER_BYTES);
  head.writeUInt16BE(id, 0);
  head.writeUInt16BE(FLAG_QR | (flags & (OPCODE_MASK | FLAG_RD)) | rcode, 2);
  head.writeUInt16BE(counts.questions ?? 0, 4);
  head.writeUInt16BE(counts.answers ?? 0, 6);
  head.writeUInt16BE(0, 8);
  head.writeUInt16BE(counts.additionals ?? 0, 10);
  return head;
}

/** Records encoded by dns-packet, without its header: the section that follows ours. */
function section(records: Answer[]): Buffer {
  return encode({ type: 'response', answers: records }).subarray(HEADER_BYTES);
}

function isOpt(record: Answer): record is OptAnswer {
  return record.type === 'OPT';
}

/** The OPT record of a response, if it has one that dns-packet can read. */
function optOf(response: Buffer): OptAnswer | undefined {
  try {
    return (decode(response).additionals ?? []).find(isOpt);
  } catch {
    return undefined;
  }
}

interface Question {
  readonly labels: readonly Buffer[];
  readonly type: number;
  readonly klass: number;
  /** Offset just past the question: what the response echoes is query[12, end). */
  readonly end: number;
}

/**
 * The first question, read here rather than by dns-packet so that a name too long to be ours
 * is refused (not ours) instead of failing the whole decode (a format error). A length byte of
 * 64 to 191 is not a valid label length (RFC 1035 §4.1.4), but it is what a naive encoder
 * writes for a label that long, so it is read as one. A compression pointer cannot point
 * anywhere useful from the first question and makes it malformed.
 */
function readQuestion(query: Buffer): Question | undefined {
  const labels: Buffer[] = [];
  let offset = HEADER_BYTES;
  for (;;) {
    if (offset >= query.length) return undefined;
    const length = query[offset++] as number;
    if (length === 0) break;
    if (length >= 0xc0 || offset + length > query.length) return undefined;
    labels.push(query.subarray(offset, offset + length));
    offset += length;
  }
  if (offset + 4 > query.length) return undefined;
  return { labels, type: query.readUInt16BE(offset), klass: query.readUInt16BE(offset + 2), end: offset + 4 };
}

/** Whether the name can be written on the wire: every label 63 bytes at most, 253 characters in all. */
function wireValid(labels: readonly Buffer[]): boolean {
  const chars = labels.reduce((sum, l) => sum + l.length + 1, 0) - 1;
  return chars <= MAX_NAME_CHARS && labels.every((l) => l.length <= MAX_LABEL_BYTES);
}

/**
 * The name as asked, or undefined when it cannot be one of ours: the root, or a label with a
 * byte outside printable ASCII or a dot inside it (the dotted text would name another name).
 */
function nameOf(labels: readonly Buffer[]): string | undefined {
  if (labels.length === 0) return undefined;
  for (const label of labels) {
    if (label.length === 0) return undefined;
    for (const byte of label) if (byte <= 0x20 || byte >= 0x7f || byte === 0x2e) return undefined;
  }
  return labels.map((l) => l.toString('latin1')).join('.');
}

/**
 * The address a reverse-lookup name stands for (`4.3.2.1.in-addr.arpa` → `1.2.3.4`, and the 32
 * nibbles of `ip6.arpa` → the IPv6 address in its compressed form, as Docker prints it); undefined for any other
 * name, a partial one (a whole network, as `2.1.in-addr.arpa`) included.
 */
export function reverseAddress(name: string): string | undefined {
  const labels = name.split('.');
  const [second, top] = labels.slice(-2);
  if (top !== 'arpa') return undefined;
  const parts = labels.slice(0, -2).reverse();
  if (second === 'in-addr') {
    if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
    return parts.join('.');
  }
  if (second === 'ip6') {
    if (parts.length !== 32 || !parts.every((p) => /^[0-9a-f]$/.test(p))) return undefined;
    return bigIntToIp(BigInt(`0x${parts.join('')}`), 6);
  }
  return undefined;
}

/** The offset just past the name at `offset`: its labels, up to the root or a compression pointer. */
function skipName(buf: Buffer, offset: number): number {
  for (;;) {
    if (offset >= buf.length) throw new RangeError('name runs past the end');
    const length = buf[offset] as number;
    if (length >= 0xc0) return offset + 2;
    offset += 1 + length;
    if (length === 0) return offset;
  }
}
