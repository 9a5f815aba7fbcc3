import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Logger } from 'pino';
import { addKernelTime } from '../core/call-timing.js';
import { TsnetError } from '../core/errors.js';
import { CommandError, type RunOptions, type RunResult, type Runner } from './runner.js';

/**
 * Starting a program costs Node 10–15 ms on a small host, more than the kernel work of most `ip`
 * commands (creating a veth pair takes about 1.5 ms). Every `docker run` creates and deletes a
 * pair, so `ip` commands that change the kernel go to long-lived `ip -force -batch -` processes
 * instead: one line per command, each followed by a line that always fails, whose "Command
 * failed" report on stderr (unbuffered) marks the end of the command before it. A failure of the
 * command itself shows up as its own "Command failed -:N" with iproute2's message before it.
 *
 * Batch mode cannot report exit codes, and iproute2 ends the whole process on some argument
 * errors; so only commands whose caller needs neither output nor an exit code are batched
 * (`RunOptions.batchable`), a process that dies fails only the command it was running, and the
 * next command starts a new one. A long-lived `ip` also caches interface names: one that was
 * deleted and made again (a user-named bridge reused) keeps its old index there and the kernel
 * refuses the command. So a command that fails in a batch is run once more as a program of its
 * own ({@link BatchingRunner}), and only that answer counts; the kernel applies a refused
 * command not at all or, for `link set`, up to the failed attribute, which the rerun sets again.
 */
const SYNC_LINE = '-tsnet-sync'; // "-…" never names an `ip` object, so it fails without side effects
const SAFE_ARG = /^[A-Za-z0-9_.:/@%+,=-]+$/; // nothing batch mode's line parser treats specially
const DEFAULT_TIMEOUT_MS = 10_000;
const IDLE_MS = 5_000;

export interface IpBatchOptions {
  readonly log: Logger;
  /** The program and its leading options; default `['ip']` (the daemon's own namespace). */
  readonly command?: readonly string[];
  /** Processes run at most this many commands at once (veth deletion waits ~20 ms in the kernel). */
  readonly maxProcesses?: number;
  /** An idle process exits after this long, so nothing lingers between bursts of work. */
  readonly idleMs?: number;
}

/** True when `args` (after `ip`) can be written as one batch line and mean the same thing. */
export function batchableArgs(args: readonly string[]): boolean {
  return args.length > 0 && !args[0]?.startsWith('-') && args.every((a) => SAFE_ARG.test(a));
}

/** A pool of `ip -force -batch -` processes: at most `maxProcesses` slots, each starting its process when needed. */
export class IpBatch {
  private readonly idle: BatchProcess[] = [];
  private readonly waiting: Array<(p: BatchProcess) => void> = [];
  private slots = 0;
  private closed = false;

  constructor(private readonly options: IpBatchOptions) {}

  /** The arguments after this pool's command when `argv` is that command plus a batchable line. */
  lineOf(argv: readonly string[]): readonly string[] | undefined {
    const command = this.command();
    if (argv.length <= command.length || command.some((word, i) => argv[i] !== word)) return undefined;
    const args = argv.slice(command.length);
    return batchableArgs(args) ? args : undefined;
  }

  /** Runs `ip ARGS…`; resolves when the kernel has answered, rejects with iproute2's message. */
  async run(args: readonly string[], timeoutMs = DEFAULT_TIMEOUT_MS): Promise<RunResult> {
    if (!batchableArgs(args)) throw new Error(`not a batchable ip command: ${args.join(' ')}`);
    if (this.closed) throw new Error('IpBatch is closed');
    const started = performance.now();
    const worker = await this.acquire();
    try {
      return await worker.run([...this.command(), ...args], args.join(' '), timeoutMs);
    } finally {
      const ms = performance.now() - started;
      addKernelTime(ms);
      this.options.log.debug({ argv: [...this.command(), ...args], batch: true, ms: Math.round(ms * 10) / 10 }, 'exec');
      this.release(worker);
    }
  }

  /** Ends every process; commands in flight finish first. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.idle.splice(0).map((p) => p.end()));
  }

  private command(): readonly string[] {
    return this.options.command ?? ['ip'];
  }

  private acquire(): Promise<BatchProcess> {
    const live = this.idle.pop();
    if (live) return Promise.resolve(live);
    if (this.slots < (this.options.maxProcesses ?? 4)) {
      this.slots++;
      return Promise.resolve(new BatchProcess(this.command(), this.options.idleMs ?? IDLE_MS));
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(worker: BatchProcess): void {
    const next = this.waiting.shift();
    if (next) next(worker);
    else if (this.closed) void worker.end();
    else {
      this.idle.push(worker);
      worker.idleAfterwards();
    }
  }
}

interface Pending {
  readonly argv: readonly string[];
  readonly commandLine: number;
  readonly resolve: (result: RunResult) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** A slot for one `ip -force -batch -` process, running one command at a time; it (re)starts the process when needed. */
class BatchProcess {
  private child: ChildProcessWithoutNullStreams | undefined;
  private lines = 0;
  private stderr = '';
  private pending: Pending | undefined;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly command: readonly string[], private readonly idleMs: number) {}

  run(argv: readonly string[], line: string, timeoutMs: number): Promise<RunResult> {
    clearTimeout(this.idleTimer);
    const child = this.child ?? this.start(argv);
    return new Promise((resolve, reject) => {
      this.lines += 2;
      const timer = setTimeout(() => {
        this.stderr += `killed by SIGKILL after ${timeoutMs} ms (timeout)`;
        child.kill('SIGKILL');
      }, timeoutMs);
      this.pending = { argv, commandLine: this.lines - 1, resolve, reject, timer };
      child.stdin.write(`${line}\n${SYNC_LINE}\n`);
    });
  }

  idleAfterwards(): void {
    this.idleTimer = setTimeout(() => void this.end(), this.idleMs);
    this.idleTimer.unref();
  }

  end(): Promise<void> {
    clearTimeout(this.idleTimer);
    const child = this.child;
    if (!child) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('close', () => resolve());
      child.stdin.end();
    });
  }

  private start(argv: readonly string[]): ChildProcessWithoutNullStreams {
    const [program, ...options] = this.command;
    const child = spawn(program as string, [...options, '-force', '-batch', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout.resume(); // mutations print nothing; never let a full pipe stall the process
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => this.onStderr(chunk));
    child.stdin.on('error', () => undefined); // reported by 'close' below
    child.on('error', (error) => this.fail(new TsnetError('TSNET_HOST_EXEC', `could not run ${program}: ${error.message}`, `install the package that provides ${program}`, { cause: error })));
    child.on('close', (code, signal) => {
      this.child = undefined;
      this.fail(new CommandError(this.pending?.argv ?? argv, { code: code ?? -1, stdout: '', stderr: signal ? `${this.stderr} (killed by ${signal})` : this.stderr }));
    });
    this.lines = 0;
    return child;
  }

  private onStderr(chunk: string): void {
    this.stderr += chunk;
    const pending = this.pending;
    if (!pending || !this.stderr.includes(`Command failed -:${pending.commandLine + 1}\n`)) return;
    const failedAt = this.stderr.indexOf(`Command failed -:${pending.commandLine}\n`);
    const message = failedAt >= 0 ? this.stderr.slice(0, failedAt) : '';
    this.stderr = '';
    this.settle();
    if (failedAt >= 0) pending.reject(new CommandError(pending.argv, { code: 1, stdout: '', stderr: message }));
    else pending.resolve({ code: 0, stdout: '', stderr: '' });
  }

  private fail(err: Error): void {
    const pending = this.pending;
    this.stderr = '';
    this.settle();
    pending?.reject(err);
  }

  private settle(): void {
    if (this.pending) clearTimeout(this.pending.timer);
    this.pending = undefined;
  }
}

/**
 * The Runner the daemon uses: a batchable command of a program that has an {@link IpBatch}
 * (`ip`, and `bridge` for the overlay's forwarding entries, which change on every other host
 * for each container start and stop) goes to that batch; everything else starts a program.
 */
export class BatchingRunner implements Runner {
  private readonly batches: readonly IpBatch[];

  constructor(
    private readonly exec: Runner,
    batches: IpBatch | readonly IpBatch[],
    private readonly log: Logger,
    /** Told of every program run, batched or not (for metrics). Must not throw. */
    private readonly onProgram?: (run: { readonly program: string; readonly ms: number; readonly ok: boolean }) => void,
  ) {
    this.batches = Array.isArray(batches) ? batches : [batches as IpBatch];
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    if (!this.onProgram) return this.runOnce(argv, options);
    const started = performance.now();
    const program = programName(argv);
    try {
      const result = await this.runOnce(argv, options);
      this.onProgram({ program, ms: performance.now() - started, ok: true });
      return result;
    } catch (err) {
      this.onProgram({ program, ms: performance.now() - started, ok: false });
      throw err;
    }
  }

  private async runOnce(argv: readonly string[], options: RunOptions): Promise<RunResult> {
    const eligible = options.batchable === true && options.input === undefined && !options.okCodes?.length;
    const match = eligible ? this.batches.map((b) => ({ batch: b, args: b.lineOf(argv) })).find((m) => m.args !== undefined) : undefined;
    if (!match?.args) return this.exec.run(argv, options);
    const { batch, args } = match;
    try {
      return await batch.run(args, options.timeoutMs);
    } catch (err) {
      this.log.debug({ argv, batchError: err instanceof Error ? err.message : String(err) }, 'batched command failed; running it on its own for the answer');
      return this.exec.run(argv, options);
    }
  }
}

/** The program a command line runs, past `ip netns exec NS` (tests run tsnet's commands in a namespace). */
function programName(argv: readonly string[]): string {
  const inner = argv[0] === 'ip' && argv[1] === 'netns' && argv[2] === 'exec' ? argv.slice(4) : argv;
  return (inner[0] ?? '').split('/').pop() ?? '';
}
