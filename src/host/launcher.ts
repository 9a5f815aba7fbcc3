import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { cancellationSignal, deadlineError } from '../core/deadline.js';
import { TsnetError } from '../core/errors.js';
import { CommandError, settleRun, type RunOptions, type RunResult, type Runner } from './runner.js';

/**
 * Node starts a program by forking itself, and a fork copies the page tables of the whole
 * daemon while the event loop waits: 6–13 ms per program on these hosts (measured: 13 ms at
 * 90 MB resident), more than most programs tsnet runs take to do their work. `docker run -p`
 * runs four (iptables-save and iptables-restore, on publish and on revoke).
 *
 * So the daemon starts programs from long-lived `/bin/sh` processes of about a megabyte each,
 * whose forks are cheap and off the event loop. A shell only ever reads one line per program:
 * every word single-quoted (so no character in an argument means anything to the shell: the
 * argument array reaches the program as given, exactly as with spawn), the program's input,
 * output and errors as files in a private directory, then `wait` for its exit status. The
 * shell reports the program's process id first, so a timeout or a call's deadline kills the
 * program itself, as spawn's own timeout would.
 *
 * A shell that dies fails only the program it was running; the next one starts a new shell.
 */
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_SHELLS = 4;
/** POSIX sh reports "not found" with this status when it cannot find or run the program. */
const NOT_FOUND = 127;
/** The private directory's name starts with this and the daemon's pid, so a later daemon can tell whose it is. */
const DIR_PREFIX = 'tsnet-launch-';
const OWNED_DIR = new RegExp(`^${DIR_PREFIX}(\\d+)-`);

export interface LauncherOptions {
  readonly log: Logger;
  /** At most this many programs run at once (one per shell). */
  readonly maxShells?: number;
  /** The shell; default `/bin/sh` (dash on Debian). */
  readonly shell?: string;
}

/** A Runner that starts programs from a pool of long-lived shells (see above). */
export class LauncherRunner implements Runner {
  private readonly dir: string;
  private readonly idle: Shell[] = [];
  private readonly waiting: Array<(shell: Shell) => void> = [];
  private slots = 0;
  private nextSlot = 0;
  private closed = false;

  constructor(private readonly options: LauncherOptions) {
    // A daemon killed with SIGKILL cannot remove its directory; the next one does.
    sweepStaleLaunchDirs(tmpdir(), options.log);
    this.dir = mkdtempSync(join(tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const [program] = argv;
    if (!program) throw new Error('LauncherRunner.run needs a program name');
    if (argv.some((word) => word.includes('\0'))) throw new Error(`an argument of ${program} holds a NUL byte, which no program can receive`);
    if (this.closed) throw new Error('LauncherRunner is closed');
    const deadline = options.cancellable ? cancellationSignal() : undefined;
    if (deadline?.aborted) throw deadlineError(deadline);
    const started = performance.now();
    const shell = await this.acquire();
    let outcome: RunResult & { readonly killedBy?: string };
    try {
      outcome = await shell.run(argv, options.input, options.timeoutMs ?? DEFAULT_TIMEOUT_MS, deadline);
    } finally {
      this.release(shell);
    }
    const { killedBy, ...result } = outcome;
    try {
      return settleRun(this.options.log, argv, result, { ms: performance.now() - started, signal: killedBy ?? null, deadline, okCodes: options.okCodes });
    } catch (err) {
      if (!killedBy && err instanceof CommandError && result.code === NOT_FOUND && /not found|Permission denied/i.test(result.stderr)) {
        throw new TsnetError('TSNET_HOST_EXEC', `could not run ${program}: ${result.stderr.trim()}`, `install the package that provides ${program}`);
      }
      throw err;
    }
  }

  /** Ends every shell (programs in flight finish first) and removes the private directory. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.slots > this.idle.length) await new Promise<Shell>((resolve) => this.waiting.push(resolve)).then((s) => this.idle.push(s));
    await Promise.all(this.idle.splice(0).map((s) => s.end()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private acquire(): Promise<Shell> {
    const ready = this.idle.pop();
    if (ready) return Promise.resolve(ready);
    if (this.slots < (this.options.maxShells ?? DEFAULT_SHELLS)) {
      this.slots++;
      return Promise.resolve(new Shell(this.options.shell ?? '/bin/sh', join(this.dir, String(this.nextSlot++)), this.options.log));
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(shell: Shell): void {
    const next = this.waiting.shift();
    if (next) next(shell);
    else this.idle.push(shell);
  }
}

/**
 * Removes the private directories of launchers whose process has ended. The pid in the name says
 * whose a directory is; one whose process still runs (or may: EPERM) is never touched.
 */
export function sweepStaleLaunchDirs(parent: string, log: Logger, alive: (pid: number) => boolean = processAlive): number {
  let removed = 0;
  // Tidying up must never stop a daemon from starting: what cannot be removed is left, and said.
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch (err) {
    log.warn({ err, parent }, 'could not look for the program directories of ended launchers');
    return 0;
  }
  for (const name of names) {
    const owner = OWNED_DIR.exec(name)?.[1];
    const pid = Number(owner);
    if (owner === undefined || pid === process.pid || alive(pid)) continue;
    try {
      rmSync(join(parent, name), { recursive: true, force: true });
      removed++;
    } catch (err) {
      log.warn({ err, dir: join(parent, name) }, 'could not remove the program directory of an ended launcher');
    }
  }
  if (removed > 0) log.info({ removed, parent }, 'removed the program directories of launchers that ended without removing them');
  return removed;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Quotes one word for sh: inside single quotes nothing is special but the quote itself. */
export function shellWord(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The line a shell reads to run `argv` with the given files and report its pid and status. */
export function launchLine(argv: readonly string[], files: { input?: string; stdout: string; stderr: string }): string {
  const stdin = files.input === undefined ? '/dev/null' : shellWord(files.input);
  return `${argv.map(shellWord).join(' ')} <${stdin} >${shellWord(files.stdout)} 2>${shellWord(files.stderr)} & echo "tsnet-pid $!"; wait $!; echo "tsnet-status $?"\n`;
}

/** How the program ended, as the shell reports it (its output is read from the files after). */
interface Ended {
  readonly code: number;
  readonly killedBy?: string;
}

interface Pending {
  readonly resolve: (ended: Ended) => void;
  readonly reject: (err: Error) => void;
  pid?: number;
  killedBy?: string;
}

/** One long-lived shell; runs one program at a time. Restarts its process when it has died. */
class Shell {
  private child?: ChildProcessWithoutNullStreams;
  private pending?: Pending;
  private buffered = '';

  constructor(private readonly path: string, private readonly base: string, private readonly log: Logger) {}

  run(argv: readonly string[], input: string | undefined, timeoutMs: number, deadline: AbortSignal | undefined): Promise<RunResult & { readonly killedBy?: string }> {
    const files = { stdout: `${this.base}.out`, stderr: `${this.base}.err`, ...(input === undefined ? {} : { input: `${this.base}.in` }) };
    if (files.input !== undefined) writeFileSync(files.input, input ?? '', { mode: 0o600 });
    const child = this.process();
    return new Promise<Ended>((resolve, reject) => {
      const pending: Pending = {
        resolve: (outcome) => { cleanup(); resolve(outcome); },
        reject: (err) => { cleanup(); reject(err); },
      };
      const kill = (why: string) => {
        pending.killedBy = why;
        if (pending.pid !== undefined) {
          try { process.kill(pending.pid, 'SIGKILL'); } catch { /* already gone */ }
        }
      };
      const timer = setTimeout(() => kill('SIGKILL'), timeoutMs);
      const onAbort = () => kill('SIGKILL');
      deadline?.addEventListener('abort', onAbort, { once: true });
      const cleanup = () => { clearTimeout(timer); deadline?.removeEventListener('abort', onAbort); this.pending = undefined; };
      this.pending = pending;
      child.stdin.write(launchLine(argv, files));
    }).then((ended) => ({ ...ended, stdout: readFileSync(files.stdout, 'utf8'), stderr: readFileSync(files.stderr, 'utf8') }));
  }

  end(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('close', () => resolve());
      child.stdin.end();
    });
  }

  private process(): ChildProcessWithoutNullStreams {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) return this.child;
    const child = spawn(this.path, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.buffered = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => this.read(chunk));
    child.stderr.on('data', (chunk: Buffer) => this.log.warn({ shell: this.path, stderr: chunk.toString().trim() }, 'launcher shell wrote to its error output'));
    child.stdin.on('error', () => undefined); // reported through 'close' below
    child.on('error', (err) => this.pending?.reject(new TsnetError('TSNET_HOST_EXEC', `could not start ${this.path}: ${err.message}`, `tsnet starts programs through ${this.path}; check that it exists`, { cause: err })));
    child.on('close', (code, signal) => {
      if (this.child === child) this.child = undefined;
      this.pending?.reject(new Error(`the shell that runs tsnet's programs ended (${signal ?? `exit ${code}`}) while running one; it is restarted for the next`));
    });
    return child;
  }

  private read(chunk: string): void {
    this.buffered += chunk;
    for (let end = this.buffered.indexOf('\n'); end >= 0; end = this.buffered.indexOf('\n')) {
      const line = this.buffered.slice(0, end);
      this.buffered = this.buffered.slice(end + 1);
      const pending = this.pending;
      if (!pending) continue;
      const [tag, value] = line.split(' ');
      if (tag === 'tsnet-pid') {
        pending.pid = Number(value);
        if (pending.killedBy) {
          try { process.kill(pending.pid, 'SIGKILL'); } catch { /* already gone */ }
        }
      } else if (tag === 'tsnet-status') {
        pending.resolve({ code: Number(value), ...(pending.killedBy ? { killedBy: pending.killedBy } : {}) });
      }
    }
  }
}
