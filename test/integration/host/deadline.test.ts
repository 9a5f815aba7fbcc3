import { describe, expect, test } from 'vitest';
import { callDeadline } from '../../../src/core/deadline.js';
import { TsnetError } from '../../../src/core/errors.js';
import { applyOps } from '../../../src/host/apply.js';
import type { HostNet, HostOp } from '../../../src/host/hostnet.js';
import { RecordingHostNet } from '../../../src/host/recording.js';
import { log, runner, sh, withTestNetns } from './netns-fixture.js';

/** A deadline that passes `ms` from now, as the API layer sets one for each call. */
function deadlineIn(ms: number): AbortSignal {
  const controller = new AbortController();
  setTimeout(() => controller.abort(new TsnetError('TSNET_DEADLINE', `the test's call did not finish within ${ms} ms`, 'retry')), ms);
  return controller.signal;
}

/** True while a process with this exact command line runs (the test's own sleeps have unique lengths). */
const running = async (argv: string): Promise<boolean> => (await sh(['ps', '-eo', 'args'])).split('\n').some((line) => line.trim() === argv);

describe('a call\'s deadline reaches the programs its forward steps run', () => {
  test('a cancellable program of a forward step is killed when the deadline passes, and the steps done before it are rolled back', async () => {
    const { host } = await withTestNetns('dl');
    const first: HostOp = { op: 'ensure-bridge', name: 'tsnb-dl1', mtu: 1500 };
    const second: HostOp = { op: 'ensure-up', dev: 'tsnb-dl1' };
    // The second step hangs in a cancellable program, as an iptables-restore waiting for the xtables lock would.
    const hanging: HostNet = new Proxy(host, {
      get(target, key, receiver) {
        if (key !== 'apply') return Reflect.get(target, key, receiver) as unknown;
        return async (op: HostOp) => (op === second ? (await runner.run(['sleep', '31.7'], { cancellable: true }), true) : target.apply(op));
      },
    });
    const err = await callDeadline.run(deadlineIn(300), () => applyOps(hanging, [first, second], log)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TSNET_DEADLINE' });
    expect(await running('sleep 31.7')).toBe(false);
    // The bridge the first step made was removed again: rollback runs to the end, deadline or not.
    expect(await host.getLink('tsnb-dl1')).toBeUndefined();
  }, 10_000);

  test('a program not marked cancellable runs to its end even past the deadline (its effect would be unknown if killed)', async () => {
    const result = await callDeadline.run(deadlineIn(50), () => applyOps(new RecordingHostNet(), [], log).then(() => runner.run(['sleep', '0.3'])));
    expect(result.code).toBe(0); // killed, it would have been refused
  });

  test('outside a forward step (rollback, teardown) a cancellable program is not killed, and a step that starts after the deadline does not run', async () => {
    const signal = deadlineIn(10);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const rollbackLike = await callDeadline.run(signal, () => runner.run(['true'], { cancellable: true }));
    expect(rollbackLike.code).toBe(0);
    const recording = new RecordingHostNet();
    const err = await callDeadline.run(signal, () => applyOps(recording, [{ op: 'ensure-up', dev: 'x' }], log)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TSNET_DEADLINE' });
    expect(recording.log).toEqual([]);
  });
});
