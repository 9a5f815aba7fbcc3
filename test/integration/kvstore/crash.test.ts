import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { KvStore } from '../../../kvstore/kvstore.js';
import { openFileKvStore } from '../../../kvstore/local/index.js';
import { REPO, transpileForChild } from './transpile.js';

const LOOPS = 6;
const ROUNDS = 12;
/**
 * Rounds alternate: a snapshot after (nearly) every batch, so kills land inside compactions,
 * and a long log, so kills land in the middle of log writes.
 */
const compactBytesFor = (round: number) => (round % 2 === 0 ? 1 : 256 * 1024);

let moduleUrl: string;
let removeBuild: () => Promise<void>;
const dirs: string[] = [];
beforeAll(async () => {
  ({ url: moduleUrl, cleanup: removeBuild } = await transpileForChild('kvstore/local/index.ts'));
});
afterAll(async () => {
  await removeBuild?.();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function newDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tsnet-crash-'));
  dirs.push(dir);
  return dir;
}

interface Writer {
  readonly child: ChildProcess;
  /** Highest acknowledged N per loop, and the highest acknowledged revision. */
  readonly acked: Map<number, number>;
  readonly ackedRevision: () => number;
  readonly ackCount: () => number;
  /** Resolves at the first acknowledged transaction. */
  readonly started: Promise<void>;
  readonly exited: Promise<NodeJS.Signals | null>;
}

function startWriter(dir: string, compactBytes: number): Writer {
  const script = join(REPO, 'test/integration/kvstore/crash-child.mjs');
  const child = spawn(process.execPath, [script, moduleUrl, dir, String(LOOPS), String(compactBytes)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const acked = new Map<number, number>();
  let revision = 0;
  let count = 0;
  let buffered = '';
  let stderr = '';
  let onStart!: () => void;
  const started = new Promise<void>((resolve) => { onStart = resolve; });
  child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (buffered + chunk.toString()).split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      const [g, n, r] = line.split(' ').map(Number) as [number, number, number];
      acked.set(g, Math.max(acked.get(g) ?? 0, n));
      revision = Math.max(revision, r);
      count++;
      onStart();
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const exited = new Promise<NodeJS.Signals | null>((resolve, reject) => {
    child.on('exit', (code, signal) => (signal ? resolve(signal) : reject(new Error(`writer exited by itself (code ${code}): ${stderr}`))));
  });
  void Promise.race([exited, started]).catch(() => onStart());
  return { child, acked, ackedRevision: () => revision, ackCount: () => count, started, exited };
}

/** Checks every invariant of crash-child's transactions; returns N per loop as stored. */
async function checkConsistent(store: KvStore, round: number): Promise<number[]> {
  const stored: number[] = [];
  for (let g = 0; g < LOOPS; g++) {
    const keys = await store.list(`g${g}/`);
    const n = Number(keys.find((e) => e.key === `g${g}/a`)?.value ?? 0);
    const expected = n === 0 ? [] : [[`g${g}/a`, String(n)], [`g${g}/b`, String(n)], [`g${g}/c`, String(n).padStart(300, '0')], [`g${g}/d/${n}`, String(n)]];
    expect(keys.map((e) => [e.key, e.value]).sort(), `round ${round}, loop ${g}: a half-applied transaction`).toEqual(expected.sort());
    expect(new Set(keys.map((e) => e.modRevision)).size, `round ${round}, loop ${g}: one transaction, one revision`).toBeLessThanOrEqual(1);
    stored.push(n);
  }
  const total = Number((await store.get('total'))?.value ?? 0);
  expect(total, `round ${round}: the shared counter must equal the sum of the loops' counters`).toBe(stored.reduce((a, b) => a + b, 0));
  return stored;
}

test(`kill -9 at random moments (${ROUNDS} rounds): every transaction is all-or-nothing, no acknowledged write is lost`, async () => {
  const dir = await newDir();
  let previous = Array.from({ length: LOOPS }, () => 0);
  let acknowledged = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const writer = startWriter(dir, compactBytesFor(round));
    await writer.started;
    await new Promise((resolve) => setTimeout(resolve, 20 + Math.floor(Math.random() * 400)));
    writer.child.kill('SIGKILL');
    expect(await writer.exited).toBe('SIGKILL');
    const store = await openFileKvStore({ dir });
    try {
      const stored = await checkConsistent(store, round);
      for (let g = 0; g < LOOPS; g++) {
        expect(stored[g], `round ${round}, loop ${g}: acknowledged ${writer.acked.get(g)}, found ${stored[g]}`).toBeGreaterThanOrEqual(writer.acked.get(g) ?? 0);
        expect(stored[g], `round ${round}, loop ${g}: went backwards`).toBeGreaterThanOrEqual(previous[g] as number);
      }
      expect(await store.revision()).toBeGreaterThanOrEqual(writer.ackedRevision());
      acknowledged += writer.ackCount();
      previous = stored;
    } finally {
      await store.close();
    }
  }
  expect(acknowledged, 'the writers made progress').toBeGreaterThan(ROUNDS * LOOPS);
  expect(await readdir(dir), 'compaction ran at least once').toContain('snapshot.json');
}, 180_000);

test('a second process cannot open a directory a live process holds; after a kill -9 it can', async () => {
  const dir = await newDir();
  const writer = startWriter(dir, compactBytesFor(1));
  try {
    await writer.started;
    await expect(openFileKvStore({ dir })).rejects.toMatchObject({ code: 'TSNET_KV_LOCKED', message: expect.stringContaining(`process ${writer.child.pid}`) });
  } finally {
    writer.child.kill('SIGKILL');
  }
  await writer.exited;
  const store = await openFileKvStore({ dir }); // the dead writer's lock is stale now
  await checkConsistent(store, 0);
  await store.close();
});
