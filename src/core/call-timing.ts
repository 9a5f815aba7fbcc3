import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Time a protocol call spends waiting for kernel programs (ip, iptables-restore), so the log
 * can tell tsnet's own handling time apart from the kernel's. Each call runs in its own context.
 */
export interface CallTiming {
  kernelMs: number;
}

export const callTiming = new AsyncLocalStorage<CallTiming>();

export function addKernelTime(ms: number): void {
  const timing = callTiming.getStore();
  if (timing) timing.kernelMs += ms;
}
