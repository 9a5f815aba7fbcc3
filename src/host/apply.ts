import type { Logger } from 'pino';
import { forwardStep } from '../core/deadline.js';
import { errorText, TsnetError } from '../core/errors.js';
import { describeOp, inverseOf, renderOp, type HostNet, type HostOp } from './hostnet.js';
import { CommandError } from './runner.js';

/**
 * Runs a plan in order. If a step fails, every step that changed something is undone in reverse
 * order (CNI's success-flag pattern), so a failed Docker call leaves the host as it found it.
 */
export async function applyOps(host: HostNet, ops: readonly HostOp[], log: Logger): Promise<void> {
  const changed: HostOp[] = [];
  for (const op of ops) {
    try {
      if (await forwardStep(() => host.apply(op))) changed.push(op);
    } catch (err) {
      await rollback(host, changed, log);
      if (err instanceof TsnetError && err.code === 'TSNET_DEADLINE') throw err;
      throw new TsnetError('TSNET_HOST_APPLY', `could not ${describeOp(op)}: ${kernelReason(err)}`, 'nothing was left half-done: the changes made before it were rolled back', { cause: err });
    }
  }
}

async function rollback(host: HostNet, changed: HostOp[], log: Logger): Promise<void> {
  for (const op of [...changed].reverse()) {
    for (const inverse of inverseOf(op)) {
      try {
        await host.apply(inverse);
      } catch (err) {
        log.warn({ err, op: renderOp(op), undo: renderOp(inverse) }, 'rollback step failed');
      }
    }
  }
}

/** Teardown: run every op, keep going past failures, and report them all at the end. */
export async function applyAllBestEffort(host: HostNet, ops: readonly HostOp[], log: Logger): Promise<void> {
  const failures: string[] = [];
  for (const op of ops) {
    try {
      await host.apply(op);
    } catch (err) {
      log.warn({ err, op: renderOp(op) }, 'teardown step failed');
      failures.push(`could not ${describeOp(op)}: ${kernelReason(err)}`);
    }
  }
  if (failures.length > 0) {
    throw new TsnetError('TSNET_HOST_TEARDOWN', `could not remove everything: ${failures.join('; ')}`, 'see the tsnet log for each step; retrying the command repeats only what is left');
  }
}

/** The kernel's own words (RTNETLINK's answer), without the command line around them. */
function kernelReason(err: unknown): string {
  if (err instanceof CommandError) return `the kernel said "${(err.result.stderr.trim() || err.result.stdout.trim()).replace(/^RTNETLINK answers: /, '')}"`;
  if (err instanceof TsnetError) return err.userMessage();
  return errorText(err);
}
