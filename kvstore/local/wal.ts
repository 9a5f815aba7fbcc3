/**
 * Write-ahead log records: [u32 payload length][u32 CRC-32 of payload][payload]. A record whose
 * length runs past the end of the file, or whose checksum does not match, marks the torn tail
 * of a crash: everything from there on is discarded, so a transaction is either wholly in the
 * log or not at all.
 */
const HEADER = 8;
const MAX_RECORD = 64 * 1024 * 1024;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = (CRC_TABLE[(crc ^ (data[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export function encodeRecord(payload: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(payload), 'utf8');
  const header = Buffer.alloc(HEADER);
  header.writeUInt32LE(body.length, 0);
  header.writeUInt32LE(crc32(body), 4);
  return Buffer.concat([header, body]);
}

/** Decodes whole records; `validLength` is where the intact prefix of the log ends. */
export function decodeRecords<T>(data: Buffer): { records: T[]; validLength: number } {
  const records: T[] = [];
  let offset = 0;
  while (offset + HEADER <= data.length) {
    const length = data.readUInt32LE(offset);
    const crc = data.readUInt32LE(offset + 4);
    if (length > MAX_RECORD || offset + HEADER + length > data.length) break;
    const body = data.subarray(offset + HEADER, offset + HEADER + length);
    if (crc32(body) !== crc) break;
    try {
      records.push(JSON.parse(body.toString('utf8')) as T);
    } catch {
      break;
    }
    offset += HEADER + length;
  }
  return { records, validLength: offset };
}
