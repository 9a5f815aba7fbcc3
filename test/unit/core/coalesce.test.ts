import { expect, test } from 'vitest';
import { Coalesced } from '../../../src/core/coalesce.js';

const microtasks = async (n: number) => { for (let i = 0; i < n; i++) await Promise.resolve(); };

test('requests during a pass coalesce into one more pass; the last request is always served', async () => {
  let passes = 0;
  let release: () => void = () => undefined;
  const c = new Coalesced(async () => { passes++; await new Promise<void>((r) => { release = r; }); }, () => false);
  const first = c.run();
  await microtasks(1);
  const during = [c.run(), c.run(), c.run()];
  release();
  await microtasks(3);
  release();
  await Promise.all([first, ...during]);
  expect(passes).toBe(2);
});

test('a request that comes just as the last pass ends (any number of microtasks later) gets a pass of its own', async () => {
  for (let delay = 0; delay <= 6; delay++) {
    let passes = 0;
    const c = new Coalesced(async () => { passes++; }, () => false);
    const first = c.run();
    // The work's promise has settled after two microtasks; probe every moment around the run's end.
    await microtasks(delay);
    const late = c.run();
    await Promise.all([first, late]);
    await microtasks(10);
    expect({ delay, passes }).toEqual({ delay, passes: 2 });
  }
});

test('no pass after stop', async () => {
  let passes = 0;
  let stopped = false;
  let release: () => void = () => undefined;
  const c = new Coalesced(async () => { passes++; await new Promise<void>((r) => { release = r; }); }, () => stopped);
  const first = c.run();
  await microtasks(1);
  void c.run();
  stopped = true;
  release();
  await first;
  expect(passes).toBe(1);
  expect(c.current).toBeUndefined();
});
