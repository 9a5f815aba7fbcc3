import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { Backoff, MAX_BACKOFF_MS } from '../../../src/core/backoff.js';

describe('Backoff (the retry policy of the background loops)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  test('each retry waits twice as long as the one before, up to the cap; success starts over', () => {
    const attempt = vi.fn();
    const backoff = new Backoff(attempt, 250);
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      waits.push(backoff.nextDelayMs);
      backoff.retry();
      vi.advanceTimersByTime(backoff.nextDelayMs); // at least the wait just scheduled
    }
    expect(waits).toEqual([250, 500, 1000, 2000, 4000, 8000, MAX_BACKOFF_MS, MAX_BACKOFF_MS]);
    expect(attempt).toHaveBeenCalledTimes(8);
    backoff.succeeded();
    expect(backoff.nextDelayMs).toBe(250);
  });

  test('the attempt runs only after its delay, and a second retry replaces the pending one', () => {
    const attempt = vi.fn();
    const backoff = new Backoff(attempt, 100);
    backoff.retry();
    vi.advanceTimersByTime(99);
    expect(attempt).not.toHaveBeenCalled();
    backoff.retry(); // now waits 200 from here
    vi.advanceTimersByTime(199);
    expect(attempt).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(attempt).toHaveBeenCalledTimes(1);
  });

  test('after stop nothing runs, neither the pending attempt nor a later retry', () => {
    const attempt = vi.fn();
    const backoff = new Backoff(attempt, 100);
    backoff.retry();
    backoff.stop();
    backoff.retry();
    vi.advanceTimersByTime(60_000);
    expect(attempt).not.toHaveBeenCalled();
  });
});
