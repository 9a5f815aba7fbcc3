import { AsyncLocalStorage } from 'node:async_hooks';
import { TsnetError } from './errors.js';

/**
 * The deadline of the protocol call being handled. Docker gets its answer when the deadline
 * passes, so the work must not go on changing the host as if it had succeeded: each forward step
 * (a kernel op, a phase of a call) checks it, and a call past its deadline stops there and rolls
 * back. Rollback itself never checks, so what was done is always undone.
 */
export const callDeadline = new AsyncLocalStorage<AbortSignal>();

/** Throws the deadline's error when the current call's deadline has passed; a no-op outside calls. */
export function checkDeadline(): void {
  const signal = callDeadline.getStore();
  if (signal?.aborted) throw signal.reason instanceof TsnetError ? signal.reason : new TsnetError('TSNET_DEADLINE', 'the call\'s deadline passed', 'retry');
}
