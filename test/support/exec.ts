import { spawn } from 'node:child_process';

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  readonly timeoutMs?: number;
  readonly input?: string;
  /** Return the result instead of throwing on a non-zero exit. */
  readonly allowFail?: boolean;
}

/** Runs a program (argument array, never a shell) and collects its output. */
export function run(argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  const [program, ...args] = argv;
  if (!program) throw new Error('run: empty argv');
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: options.timeoutMs ?? 60_000 });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const result = { code: code ?? (signal ? 128 : -1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      if (result.code !== 0 && !options.allowFail) {
        reject(new Error(`${argv.join(' ')} exited ${result.code}${signal ? ` (${signal})` : ''}: ${result.stderr.trim() || result.stdout.trim()}`));
      } else resolve(result);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** Polls `check` until it returns a truthy value, or fails naming `what`. */
export async function waitFor<T>(check: () => Promise<T | undefined | false>, what: string, timeoutMs = 15_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
