import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import { openFileKvStore } from '../../../kvstore/local/index.js';
import { REPO, ensureBuilt } from '../../support/tsnet-daemon.js';

const LOOPS = 8;
const ROUNDS = 12;
const dirs: string[] = [];
afterAll(async () => { await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))); });

/** Runs the writer until a random moment, then SIGKILLs it; returns the last acknowledged n per loop. */
function runAndKill(dir: string, afterMs: number): Promise<Map<number, number>> {
  const dist = pathToFileURL(join(REPO, 'dist/kvstore/local/index.js')).href;
  const child = spawn(process.execPath, [join(REPO, 'test/integration/store/crash-writer.mjs'), dist, dir, String(LOOPS)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const acked = new Map<number, number>();
  let buffered = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      const [g, n] = line.split(' ').map(Number);
      acked.set(g as number, n as number);
    }
  });
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
  setTimeout(() => child.kill('SIGKILL'), afterMs);
  return new Promise((resolve, reject) => child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve(acked) : reject(new Error(`writer exited on its own: ${stderr}`)))));
}

test('kill -9 at random moments: every transaction is all-or-nothing and no acknowledged write is lost', async () => {
  await ensureBuilt();
  const dir = await mkdtemp(join(tmpdir(), 'tsnet-crash-'));
  dirs.push(dir);
  let totalAcked = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const acked = await runAndKill(dir, 150 + Math.floor(Math.random() * 400));
    totalAcked += [...acked.values()].reduce((a, b) => a + b, 0);
    const store = await openFileKvStore({ dir });
    try {
      for (let g = 0; g < LOOPS; g++) {
        const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((k) => store.get(`g${g}/${k}`)));
        const value = Number(a?.value ?? 0);
        expect(Number(b?.value ?? 0), `round ${round} loop ${g}: a and b differ`).toBe(value);
        expect(Number(c?.value ?? 0), `round ${round} loop ${g}: a and c differ`).toBe(value);
        expect(a?.modRevision, 'one transaction, one revision').toBe(c?.modRevision);
        expect(value, `round ${round} loop ${g}: acknowledged ${acked.get(g)} but found ${value}`).toBeGreaterThanOrEqual(acked.get(g) ?? 0);
      }
    } finally {
      await store.close();
    }
  }
  expect(totalAcked).toBeGreaterThan(ROUNDS * LOOPS);
}, 120_000);
