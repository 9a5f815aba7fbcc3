import { AsyncLocalStorage } from 'node:async_hooks';
import { TsnetError } from './errors.js';

/**
 * The deadline of the protocol call being handled. Docker gets its answer when the deadline
 * passes, so the work must not go on changing the host as if it had succeeded: each forward step
 * (a kernel op, a phase of a call) checks it, and a call past its deadline stops there and rolls
 * back. Rollback itself never checks, so what was done is always undone.
 */
export const callDeadline = new AsyncLocalStorage<AbortSignal>();

/**
 * Set only while a forward step runs (see {@link forwardStep}): the deadline that may kill the
 * programs the step starts. Rollback and teardown run outside any forward step, so they always
 * run to the end, deadline or not.
 */
const stepDeadline = new AsyncLocalStorage<AbortSignal | undefined>();

/** Throws the deadline's error when the current call's deadline has passed; a no-op outside calls. */
export function checkDeadline(): void {
  const signal = callDeadline.getStore();
  if (signal?.aborted) throw deadlineError(signal);
}

/**
 * Runs one forward step of a call: checks the deadline first, and while the step runs, a program
 * it starts that may be killed safely (a read-only query, an all-or-nothing iptables-restore
 * waiting for the xtables lock) is killed when the deadline passes, so the step fails at once
 * instead of holding the network's queue until the program's own timeout.
 */
export function forwardStep<T>(step: () => Promise<T>): Promise<T> {
  checkDeadline();
  return stepDeadline.run(callDeadline.getStore(), step);
}

/** The deadline a cancellable program started now must obey, if any (for the host's runner). */
export function cancellationSignal(): AbortSignal | undefined {
  return stepDeadline.getStore();
}

/** The error of a passed deadline, whoever notices it. */
export function deadlineError(signal: AbortSignal): TsnetError {
  return signal.reason instanceof TsnetError ? signal.reason : new TsnetError('TSNET_DEADLINE', 'the call\'s deadline passed', 'retry');
}
