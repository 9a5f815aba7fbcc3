import { spawn } from 'node:child_process';
import type { Logger } from 'pino';
import { addKernelTime } from '../core/call-timing.js';
import { cancellationSignal, deadlineError } from '../core/deadline.js';
import { TsnetError } from '../core/errors.js';

/** Result of one program run. */
export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Written to the program's standard input (iptables-restore, ip -batch). */
  readonly input?: string;
  readonly timeoutMs?: number;
  /** Exit codes that are answers rather than failures (e.g. `iptables -C` answers 1). */
  readonly okCodes?: readonly number[];
  /**
   * The caller needs neither output nor an exit code, only success or iproute2's message: the
   * command may run in a long-lived `ip -batch` process (see ip-batch.ts) instead of its own.
   */
  readonly batchable?: boolean;
  /**
   * Killing the program part-way leaves nothing half-done (it only reads, or applies all or
   * nothing): inside a call's forward step it is killed when the call's deadline passes.
   */
  readonly cancellable?: boolean;
}

/**
 * The only way tsnet starts programs. Always an argument array that reaches the program as
 * given, so nothing a user typed can become a command (the daemon's launcher passes it through a
 * shell with every word quoted: see launcher.ts). Every program that changes the kernel runs
 * through here (the host namespace's sysctls are written to /proc/sys directly), which is what
 * makes the host layer testable with a scripted runner.
 */
export interface Runner {
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const SLOW_CALL_MS = 2_000;

/** Runs programs for real with spawn (the command line tools; the daemon uses LauncherRunner), logging argv and duration at debug and warning on slow calls. */
export class ExecRunner implements Runner {
  constructor(private readonly log: Logger) {}

  run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const [program, ...args] = argv;
    if (!program) return Promise.reject(new Error('ExecRunner.run needs a program name'));
    const deadline = options.cancellable ? cancellationSignal() : undefined;
    if (deadline?.aborted) return Promise.reject(deadlineError(deadline));
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, ...(deadline ? { signal: deadline } : {}) });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
      child.on('error', (error) => reject(deadline?.aborted ? deadlineError(deadline) : new TsnetError('TSNET_HOST_EXEC', `could not run ${program}: ${error.message}`, `install the package that provides ${program}`, { cause: error })));
      child.on('close', (code, signal) => {
        const result = { code: code ?? -1, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
        try {
          resolve(settleRun(this.log, argv, result, { ms: performance.now() - started, signal, deadline, okCodes: options.okCodes }));
        } catch (error) {
          reject(error);
        }
      });
      child.stdin.on('error', () => undefined); // the program may exit before reading its input
      child.stdin.end(options.input ?? '');
    });
  }
}

/**
 * The error a failed command becomes; `stderr` is kept because it names the kernel's reason.
 * Callers that expect a failure (a link that may not exist) catch it; one that reaches Docker
 * unexpected is the host refusing, not a bug in tsnet, so it is a TsnetError ("unavailable")
 * and Docker shows the command and the kernel's words rather than an internal error.
 */
export class CommandError extends TsnetError {
  constructor(readonly argv: readonly string[], readonly result: RunResult) {
    super('TSNET_HOST_COMMAND', `${argv.join(' ')}: exit ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`, 'the host refused a command tsnet ran; see the tsnet log, fix what it names, then retry');
  }
}

/**
 * What a finished program means, for every Runner that starts real programs (so they cannot
 * drift apart): its time counted and logged (a warning when slow), then the call's deadline, the
 * exit code and `okCodes`, or the signal that killed it decide between the answer and an error.
 */
export function settleRun(log: Logger, argv: readonly string[], result: RunResult, end: { readonly ms: number; readonly signal: string | null; readonly deadline?: AbortSignal; readonly okCodes?: readonly number[] }): RunResult {
  addKernelTime(end.ms);
  log[end.ms > SLOW_CALL_MS ? 'warn' : 'debug']({ argv, code: result.code, signal: end.signal, ms: Math.round(end.ms * 10) / 10 }, 'exec');
  if (end.deadline?.aborted) throw deadlineError(end.deadline);
  if (result.code === 0 || end.okCodes?.includes(result.code)) return result;
  throw commandFailed(argv, result, end.signal);
}

function commandFailed(argv: readonly string[], result: RunResult, signal: string | null): Error {
  if (signal) return new CommandError(argv, { ...result, stderr: `killed by ${signal} (timeout?) ${result.stderr}` });
  return new CommandError(argv, result);
}
