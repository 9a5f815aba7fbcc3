import { existsSync, statSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, waitFor } from './exec.js';
import { postPlugin } from '../../plugin-spec/conformance/client.js';
import { spawnTracked, type Tracked } from './process.js';

/** The repository root, found from here whether running from test/ (vitest) or dist/test/ (bench). */
export const REPO = findRepoRoot(dirname(fileURLToPath(import.meta.url)));

function findRepoRoot(start: string): string {
  let dir = start;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${start}`);
    dir = parent;
  }
  return dir;
}
const CLI = join(REPO, 'dist/src/cli.js');

let built: Promise<void> | undefined;

/** Builds dist/ once per test process when any source file is newer than the CLI. */
export function ensureBuilt(): Promise<void> {
  built ??= (async () => {
    const cliTime = statOrZero(CLI);
    const newest = Math.max(...['src', 'drivers', 'kvstore', 'plugin-spec'].map((d) => newestMtime(join(REPO, d))));
    if (newest > cliTime) await run(['npm', 'run', 'build', '--silent'], { timeoutMs: 120_000 });
  })();
  return built;
}

function statOrZero(path: string): number {
  try { return statSync(path).mtimeMs; } catch { return 0; }
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statOrZero(path));
  }
  return newest;
}

export interface TsnetDaemon {
  readonly socketPath: string;
  readonly stateDir: string;
  readonly process: Tracked;
}

/** Where a daemon runs: a network namespace, the directory Docker looks for sockets in, scratch space. */
export interface DaemonPlace {
  readonly netnsPath: string;
  readonly pluginsDir: string;
  readonly dir: string;
}

/** Starts `tsnet daemon` inside a namespace (a simulated host's, usually) and waits until it answers. */
export async function startTsnet(host: DaemonPlace, options: { stateDir?: string; name?: string; extraArgs?: string[] } = {}): Promise<TsnetDaemon> {
  await ensureBuilt();
  const socketPath = join(host.pluginsDir, `${options.name ?? 'tsnet'}.sock`);
  const stateDir = options.stateDir ?? join(host.dir, 'tsnet-state');
  const proc = spawnTracked(['nsenter', `--net=${host.netnsPath}`, process.execPath, CLI, 'daemon', '--socket', socketPath, '--state-dir', stateDir, '--log-level', 'debug', ...(options.extraArgs ?? [])], join(host.dir, `${options.name ?? 'tsnet'}.log`));
  try {
    const outcome = await waitFor(async () => {
      if (!proc.isRunning()) return 'exited';
      const reply = await postPlugin(socketPath, 'Plugin.Activate', undefined, 2_000).catch(() => undefined);
      return reply?.status === 200 ? 'ready' : undefined;
    }, 'tsnet to answer Plugin.Activate', 15_000, 50);
    if (outcome === 'exited') throw new Error(`tsnet exited during start-up with code ${await proc.exited}`);
  } catch (err) {
    await proc.stop(2_000);
    throw new Error(`${String(err)}\n--- tsnet log tail ---\n${(await proc.log()).split('\n').slice(-20).join('\n')}`);
  }
  return { socketPath, stateDir, process: proc };
}
