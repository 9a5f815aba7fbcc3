import zlib from 'node:zlib';
import type { LeaseId } from '../kvstore.js';

/**
 * The write-ahead log format. The file is a sequence of records
 * `[u32le payload length][u32le CRC-32 of payload][payload: UTF-8 JSON of a WalRecord]`, one
 * record per transaction (or lease grant). A record whose length runs past the end of the file,
 * whose checksum does not match or whose JSON does not parse is the torn tail of a crash:
 * everything from there on is discarded, so a transaction is either wholly in the log or absent.
 */
const HEADER = 8;
const MAX_RECORD = 256 * 1024 * 1024;

/** One write as stored: a put carries its createRevision (its modRevision is the record's). */
export type StoredWrite = { p: { k: string; v: string; c: number; l?: LeaseId } } | { d: string };

/** One log record: a transaction's writes and lease changes, with the revision they produce. */
export interface WalRecord {
  /** Store revision after this record (a lease-only record repeats the current revision). */
  r: number;
  w: StoredWrite[];
  /** Leases granted, as [id, ttlSeconds]. Applied before `w`. */
  g?: Array<[LeaseId, number]>;
  /** Leases ended (revoked or expired). Applied after `w`, which deletes their keys. */
  x?: LeaseId[];
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** Table-driven CRC-32 (ISO-HDLC, the zlib one); used where Node lacks zlib.crc32 (< 20.15). */
export function crc32Portable(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = (CRC_TABLE[(crc ^ (data[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

/** CRC-32 of `data`; both implementations give the same value, so logs move between Node versions. */
export const crc32: (data: Uint8Array) => number = nativeCrc32 ? (data) => nativeCrc32(data) >>> 0 : crc32Portable;

/** Frames a record for appending; called once per change as it is queued for the log. */
export function encodeRecord(record: WalRecord): Buffer {
  const body = Buffer.from(JSON.stringify(record), 'utf8');
  const out = Buffer.allocUnsafe(HEADER + body.length);
  out.writeUInt32LE(body.length, 0);
  out.writeUInt32LE(crc32(body), 4);
  body.copy(out, HEADER);
  return out;
}

/** Decodes whole records; `validLength` is where the intact prefix of the log ends. */
export function decodeRecords(data: Buffer): { records: WalRecord[]; validLength: number } {
  const records: WalRecord[] = [];
  let offset = 0;
  while (offset + HEADER <= data.length) {
    const length = data.readUInt32LE(offset);
    if (length > MAX_RECORD || offset + HEADER + length > data.length) break;
    const body = data.subarray(offset + HEADER, offset + HEADER + length);
    if (crc32(body) !== data.readUInt32LE(offset + 4)) break;
    const record = parseRecord(body);
    if (!record) break;
    records.push(record);
    offset += HEADER + length;
  }
  return { records, validLength: offset };
}

function parseRecord(body: Buffer): WalRecord | undefined {
  try {
    const record = JSON.parse(body.toString('utf8')) as WalRecord;
    return typeof record.r === 'number' && Array.isArray(record.w) ? record : undefined;
  } catch {
    return undefined;
  }
}
