import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { errorText, TsnetError } from '../../src/core/errors.js';
import type { KvEvent, LeaseId } from '../kvstore.js';
import { StoreImage, makeEntry, type ImageData } from './image.js';
import { decodeRecords } from './wal.js';

/** File names inside the state directory (next to the LOCK file). */
export const WAL_FILE = 'wal.log';
export const SNAPSHOT_FILE = 'snapshot.json';

/** Snapshot file: the whole image as of `revision`, written atomically (temp file + rename). */
interface SnapshotFile {
  revision: number;
  entries: Array<{ k: string; v: string; c: number; m: number; l?: LeaseId }>;
  /** [id, ttlSeconds]; absent in snapshots written before leases were logged. */
  leases?: Array<[LeaseId, number]>;
}

/** What is on disk, loaded: the image, the history the log still holds, and file sizes. */
export interface Recovered {
  readonly image: StoreImage;
  /** Transactions replayed from the log, for watches that resume from a revision. */
  readonly history: Array<{ revision: number; events: KvEvent[] }>;
  /** Every transaction after this revision is in `history` (before it: only the snapshot). */
  readonly historyFrom: number;
  /** Length of the log's intact prefix; anything after it is a torn tail to cut off. */
  readonly logBytes: number;
  readonly tornBytes: number;
  readonly snapshotBytes: number;
}

/**
 * Loads the latest snapshot, then replays the log up to its last intact record. Called once
 * by openFileKvStore with the directory lock held, so nothing else writes these files.
 */
export async function recover(dir: string): Promise<Recovered> {
  const image = new StoreImage();
  const snapshotBytes = await loadSnapshot(join(dir, SNAPSHOT_FILE), image);
  // Without a snapshot the log holds every transaction since the empty store (revision 1).
  const historyFrom = snapshotBytes > 0 ? image.revision : 0;
  const data = await readOptional(join(dir, WAL_FILE));
  const { records, validLength } = decodeRecords(data);
  const history: Recovered['history'] = [];
  for (const record of records) {
    const events = image.replay(record);
    if (events.length > 0) history.push({ revision: record.r, events });
  }
  return { image, history, historyFrom, logBytes: validLength, tornBytes: data.length - validLength, snapshotBytes };
}

/**
 * Writes a snapshot crash-safely: a temp file, fsync, rename over the old one, fsync the
 * directory (so the rename itself survives a power cut). Returns its size in bytes.
 */
export async function writeSnapshot(dir: string, data: ImageData): Promise<number> {
  const snapshot: SnapshotFile = {
    revision: data.revision,
    entries: data.entries.map((e) => (e.lease === undefined ? { k: e.key, v: e.value, c: e.createRevision, m: e.modRevision } : { k: e.key, v: e.value, c: e.createRevision, m: e.modRevision, l: e.lease })),
    leases: data.leases,
  };
  const body = Buffer.from(JSON.stringify(snapshot), 'utf8');
  const tmp = join(dir, `${SNAPSHOT_FILE}.tmp`);
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(body);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, join(dir, SNAPSHOT_FILE));
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
  return body.length;
}

async function loadSnapshot(path: string, image: StoreImage): Promise<number> {
  const text = await readOptional(path);
  if (text.length === 0) return 0;
  let snapshot: SnapshotFile;
  try {
    snapshot = JSON.parse(text.toString('utf8')) as SnapshotFile;
    if (typeof snapshot.revision !== 'number' || !Array.isArray(snapshot.entries)) throw new Error('not a tsnet store snapshot');
  } catch (err) {
    // Snapshots are renamed into place whole, so this is damage from outside, not a crash.
    throw new TsnetError('TSNET_KV_CORRUPT', `store snapshot ${path} is damaged: ${errorText(err)}`,
      'restore the state directory from a backup, or move it away to start with an empty store', { cause: err });
  }
  for (const [id, ttl] of snapshot.leases ?? []) image.leases.add(id, ttl);
  for (const e of snapshot.entries) image.load(makeEntry(e.k, e.v, e.c, e.m, e.l));
  image.revision = snapshot.revision;
  return text.length;
}

async function readOptional(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
    throw new TsnetError('TSNET_KV_IO', `could not read ${path}: ${errorText(err)}`, 'check the permissions of the state directory', { cause: err });
  }
}
