import { existsSync, statSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, waitFor } from './exec.js';
import { postPlugin } from '../../plugin-spec/conformance/client.js';
import { spawnTracked, tail, type Tracked } from './process.js';
import { DAEMON_ENV, DAEMON_NODE_FLAGS } from '../../src/core/node-flags.js';

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

/**
 * Runs `npm run build` at most once per test process, and only when dist/src/cli.js is missing
 * or older than a .ts file under src/, drivers/, kvstore/ or plugin-spec/.
 */
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

/** A running `tsnet daemon`. */
export interface TsnetDaemon {
  /** The plugin socket (`<pluginsDir>/<name>.sock`): Docker knows the driver as `<name>`. */
  readonly socketPath: string;
  readonly stateDir: string;
  /** The daemon process; stop it with `process.stop()` (SIGTERM by PID). */
  readonly process: Tracked;
}

/** Where a daemon runs: a network namespace, the directory Docker looks for sockets in, scratch space. */
export interface DaemonPlace {
  readonly netnsPath: string;
  readonly pluginsDir: string;
  readonly dir: string;
  /**
   * The API socket of the dockerd that uses this plugin (a simulated host has one), passed as
   * `--docker-host`. Without it the daemon gets `--docker-host none`: a test daemon must never
   * converge with whatever dockerd happens to run on the machine itself.
   */
  readonly socketPath?: string;
}

/** Options of {@link startTsnetDaemon}. */
export interface TsnetDaemonOptions {
  /** Default `<dir>/tsnet-state`, whatever the name (a second daemon there is refused by the first). */
  readonly stateDir?: string;
  /** Socket base name, i.e. the driver name Docker sees. Default `tsnet`. */
  readonly name?: string;
  /** Further `tsnet daemon` options. */
  readonly extraArgs?: readonly string[];
  /** Give up waiting for Plugin.Activate after this long. Default 15 s. */
  readonly readyTimeoutMs?: number;
  /** Extra environment variables (e.g. TSNET_TEST_KILL_BEFORE_REPLY for crash tests). */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Starts `node dist/src/cli.js daemon --socket <pluginsDir>/tsnet.sock --state-dir DIR
 * --log-level debug` inside the place's network namespace (a simulated host's, usually), after
 * {@link ensureBuilt}, and waits until the socket exists and `POST /Plugin.Activate` answers
 * 200. On failure the daemon is stopped and the error carries the tail of its output.
 */
export async function startTsnetDaemon(place: DaemonPlace, options: TsnetDaemonOptions = {}): Promise<TsnetDaemon> {
  await ensureBuilt();
  const name = options.name ?? 'tsnet';
  const socketPath = join(place.pluginsDir, `${name}.sock`);
  const stateDir = options.stateDir ?? join(place.dir, 'tsnet-state');
  const timeoutMs = options.readyTimeoutMs ?? 15_000;
  const proc = spawnTracked(
    [process.execPath, ...DAEMON_NODE_FLAGS, CLI, 'daemon', '--socket', socketPath, '--state-dir', stateDir, '--log-level', 'debug',
      '--docker-host', place.socketPath ? `unix://${place.socketPath}` : 'none', ...(options.extraArgs ?? [])],
    { netnsPath: place.netnsPath, logFile: join(place.dir, `${name}.log`), env: { ...process.env, ...DAEMON_ENV, ...options.env } },
  );
  try {
    const outcome = await waitFor(async () => {
      if (!proc.isRunning()) return 'exited';
      if (!existsSync(socketPath)) return undefined;
      const reply = await postPlugin(socketPath, 'Plugin.Activate', undefined, 2_000).catch(() => undefined);
      return reply?.status === 200 ? 'ready' : undefined;
    }, { what: `tsnet at ${socketPath} to answer Plugin.Activate with 200`, timeoutMs, intervalMs: 50 });
    if (outcome === 'exited') throw new Error(`tsnet exited during start-up with code ${await proc.exited}`);
  } catch (err) {
    await proc.stop(2_000);
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n--- tsnet output tail ---\n${tail(await proc.log())}`);
  }
  return { socketPath, stateDir, process: proc };
}

/** The former name of {@link startTsnetDaemon}, kept for existing tests. */
export const startTsnet = startTsnetDaemon;
