import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { signalExitCode } from './exec.js';

/** A long-running program started by a test, which the test stops by its PID only. */
export interface Tracked {
  readonly pid: number;
  /** File that receives stdout and stderr, when one was given. */
  readonly logFile: string | undefined;
  /** Resolves when the process has ended: its exit code, or 128 + signal number. */
  readonly exited: Promise<number>;
  /** Resolves when the process has ended, with the code and the signal apart. */
  readonly exitStatus: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>;
  isRunning(): boolean;
  /**
   * Sends `signal` (default SIGTERM), then SIGKILL if the process still runs after `graceMs`
   * (default 20 s), and resolves with {@link exited}. Idempotent; only ever signals this PID.
   */
  stop(graceMs?: number): Promise<number>;
  stop(signal: NodeJS.Signals, graceMs?: number): Promise<number>;
  /** SIGKILL, then wait for the end. */
  kill9(): Promise<number>;
  /** The last 64 KiB of combined stdout and stderr, kept in memory. */
  output(): string;
  /** The whole log file, or {@link output} when there is none. */
  log(): Promise<string>;
}

/** Options of {@link spawnTracked}. */
export interface SpawnOptions {
  /** Run inside this network namespace (`nsenter --net=PATH`), e.g. `/run/netns/NAME`. */
  readonly netnsPath?: string;
  /** The whole environment. Default: this process's environment. */
  readonly env?: NodeJS.ProcessEnv;
  /** Append stdout and stderr to this file too. */
  readonly logFile?: string;
  /**
   * `ignore` (default): stdin is /dev/null. `pipe`: stdin is a pipe this process holds open
   * and never writes, so a program that ends at end of input (`nc -l`) keeps its connection
   * until the peer closes it.
   */
  readonly stdin?: 'ignore' | 'pipe';
}

const OUTPUT_KEEP = 64 * 1024;

/**
 * Starts a long-running program (argument array, never a shell) and supervises it: output is
 * kept in memory and optionally appended to a log file, and the handle stops it by its own PID
 * only, so nothing the test did not start is ever signalled.
 *
 * Two call forms: `spawnTracked(argv, { netnsPath, env, logFile })`, and the older
 * `spawnTracked(argv, logFile, env)` that existing tests use.
 */
export function spawnTracked(argv: readonly string[], options?: SpawnOptions): Tracked;
export function spawnTracked(argv: readonly string[], logFile: string, env?: NodeJS.ProcessEnv): Tracked;
export function spawnTracked(argv: readonly string[], optionsOrLog: SpawnOptions | string = {}, envArg?: NodeJS.ProcessEnv): Tracked {
  const options: SpawnOptions = typeof optionsOrLog === 'string' ? { logFile: optionsOrLog, env: envArg } : optionsOrLog;
  const full = options.netnsPath ? ['nsenter', `--net=${options.netnsPath}`, ...argv] : [...argv];
  const [program, ...args] = full;
  if (!program) throw new Error('spawnTracked: empty argv');

  const file: WriteStream | undefined = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : undefined;
  file?.on('error', () => undefined); // the directory may be removed while a straggler still writes
  let kept = '';
  const child = spawn(program, args, { stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
  child.stdin?.on('error', () => undefined);
  const collect = (chunk: Buffer) => {
    kept = (kept + chunk.toString()).slice(-OUTPUT_KEEP);
    file?.write(chunk);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  let running = child.pid !== undefined;
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const exitStatus = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      running = false;
      child.stdin?.destroy();
      // Wait briefly for the rest of the output. Not for 'close' alone: a grandchild that
      // inherited stdout (dockerd's containerd) could hold the pipe open long after the exit.
      void Promise.race([closed, new Promise((r) => setTimeout(r, 500).unref())]).then(() => {
        file?.end();
        resolve({ code, signal });
      });
    });
    child.on('error', (err) => {
      running = false;
      kept += `\n[spawnTracked] ${JSON.stringify(full)} could not be started: ${err.message}\n`;
      file?.end();
      resolve({ code: -1, signal: null });
    });
  });
  const exited = exitStatus.then(({ code, signal }) => code ?? (signal ? signalExitCode(signal) : -1));
  const send = (sig: NodeJS.Signals) => {
    if (running) child.kill(sig); // ChildProcess.kill signals child.pid and nothing else
  };

  async function stop(signalOrGrace?: NodeJS.Signals | number, graceArg?: number): Promise<number> {
    const signal = typeof signalOrGrace === 'string' ? signalOrGrace : 'SIGTERM';
    const graceMs = typeof signalOrGrace === 'number' ? signalOrGrace : graceArg ?? 20_000;
    send(signal);
    const timer = setTimeout(() => send('SIGKILL'), graceMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    pid: child.pid ?? -1,
    logFile: options.logFile,
    exited,
    exitStatus,
    isRunning: () => running,
    stop,
    kill9: () => {
      send('SIGKILL');
      return exited;
    },
    output: () => kept,
    log: async () => (options.logFile ? readFile(options.logFile, 'utf8').catch(() => kept) : kept),
  };
}

/** Whether `pid` is a live process (not gone, not a zombie waiting to be reaped). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // Field 3 of /proc/PID/stat, after the parenthesised command name, is the state.
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The last `lines` lines of a text, for error messages. */
export function tail(text: string, lines = 30): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
