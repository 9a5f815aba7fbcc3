import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';

export interface Tracked {
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the exit code (or 128 + signal number) when the process ends. */
  readonly exited: Promise<number>;
  isRunning(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`. Idempotent; only ever signals this PID. */
  stop(graceMs?: number): Promise<number>;
  kill9(): Promise<number>;
  log(): Promise<string>;
}

const SIGNALS: Record<string, number> = { SIGTERM: 15, SIGKILL: 9, SIGINT: 2 };

/**
 * Starts a long-running program whose output goes to `logFile`. Tests stop it by its own PID
 * only, so nothing the test did not start is ever signalled.
 */
export function spawnTracked(argv: readonly string[], logFile: string, env?: NodeJS.ProcessEnv): Tracked {
  const [program, ...args] = argv;
  if (!program) throw new Error('spawnTracked: empty argv');
  const out = createWriteStream(logFile, { flags: 'a' });
  const child: ChildProcess = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  let running = true;
  const exited = new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => {
      running = false;
      resolve(code ?? 128 + (signal ? SIGNALS[signal] ?? 0 : 0));
    });
    child.on('error', () => {
      running = false;
      resolve(-1);
    });
  });
  const pid = child.pid ?? -1;
  const signal = (sig: NodeJS.Signals) => {
    if (running) child.kill(sig);
  };
  return {
    pid,
    logFile,
    exited,
    isRunning: () => running,
    async stop(graceMs = 20_000) {
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill9() {
      signal('SIGKILL');
      return exited;
    },
    log: () => readFile(logFile, 'utf8').catch(() => ''),
  };
}
