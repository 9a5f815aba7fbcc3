import { spawn } from 'node:child_process';

/** What a finished program left behind. */
export interface ExecResult {
  /** Exit code; 128 + signal number when a signal ended it (shell convention). */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link run}. */
export interface ExecOptions {
  /** Kill the program (SIGKILL) after this long and fail. Default 60 s. */
  readonly timeoutMs?: number;
  /** Written to the program's stdin, which is then closed. Default: an empty stdin. */
  readonly input?: string | Buffer;
  /** Return the result instead of throwing on a non-zero exit (a timeout still throws). */
  readonly allowFail?: boolean;
  /** The program's whole environment. Default: this process's environment. */
  readonly env?: NodeJS.ProcessEnv;
}

const SIGNAL_NUMBERS: Readonly<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGPIPE: 13, SIGTERM: 15 };

/** Shell convention for "ended by a signal": 128 + the signal's number. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (SIGNAL_NUMBERS[signal] ?? 0);
}

/**
 * Runs a program with an argument array (never a shell) and collects its output.
 *
 * Throws when the program cannot be started, outlives `timeoutMs`, or exits non-zero (unless
 * `allowFail`); the error message holds the argv, the exit code and stderr, so a failed test
 * says what was run and what it answered.
 */
export function run(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const [program, ...args] = argv;
  if (!program) return Promise.reject(new Error('run: empty argv'));
  const timeoutMs = options.timeoutMs ?? 60_000;
  const shown = JSON.stringify(argv);
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'], env: options.env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${shown} could not be started: ${e.message}`, { cause: e }));
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      const result: ExecResult = {
        code: exitCode ?? (signal ? signalExitCode(signal) : -1),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      };
      const detail = () => (result.stderr.trim() || result.stdout.trim()).slice(-2_000);
      if (timedOut) {
        reject(new Error(`${shown} timed out after ${timeoutMs} ms and was killed; output so far: ${detail()}`));
      } else if (result.code !== 0 && !options.allowFail) {
        reject(new Error(`${shown} exited with code ${result.code}${signal ? ` (${signal})` : ''}: ${detail()}`));
      } else {
        resolve(result);
      }
    });
    child.stdin.on('error', () => undefined); // a program that never reads its stdin closes it early
    child.stdin.end(options.input ?? '');
  });
}

/** Options of {@link waitFor}. */
export interface WaitOptions {
  /** What is awaited, for the timeout message ("dockerd to answer"). */
  readonly what: string;
  /** Give up after this long. Default 15 s. */
  readonly timeoutMs?: number;
  /** Pause between two checks. Default 50 ms. */
  readonly intervalMs?: number;
}

/**
 * Polls `check` until it returns a truthy value and returns that value. A check that throws
 * counts as "not yet"; the last error thrown is quoted in the timeout message, which also
 * names `what` and the time waited.
 *
 * Two call forms: `waitFor(check, { what, timeoutMs, intervalMs })`, and the older positional
 * `waitFor(check, what, timeoutMs, intervalMs)` that existing tests use.
 */
export async function waitFor<T>(check: () => Promise<T | undefined | null | false> | T | undefined | null | false, options: WaitOptions): Promise<T>;
export async function waitFor<T>(check: () => Promise<T | undefined | null | false> | T | undefined | null | false, what: string, timeoutMs?: number, intervalMs?: number): Promise<T>;
export async function waitFor<T>(
  check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  optionsOrWhat: WaitOptions | string,
  timeoutMsArg?: number,
  intervalMsArg?: number,
): Promise<T> {
  const { what, timeoutMs = 15_000, intervalMs = 50 } =
    typeof optionsOrWhat === 'string' ? { what: optionsOrWhat, timeoutMs: timeoutMsArg, intervalMs: intervalMsArg } : optionsOrWhat;
  const started = Date.now();
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() - started >= timeoutMs) {
      const why = lastError === undefined ? '' : `; last error: ${lastError instanceof Error ? lastError.message : String(lastError)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
