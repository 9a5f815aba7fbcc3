import { describe, expect, test, vi } from 'vitest';
import { Lifecycles, type LifecycleLog } from '../../../src/core/lifecycle.js';

function recorder() {
  const events: string[] = [];
  const log: LifecycleLog = { info: (obj) => events.push(`stopped ${(obj as { part: string }).part}`), warn: (obj) => events.push(`failed ${(obj as { part: string }).part}`) };
  const part = (name: string, fail = false) => ({
    start: () => void events.push(`start ${name}`),
    stop: async () => {
      events.push(`stop ${name}`);
      if (fail) throw new Error(`${name} broke`);
    },
  });
  return { events, parts: new Lifecycles(log), part };
}

describe('Lifecycles: the daemon\'s parts', () => {
  test('start in order and stop in reverse, so each part outlives the parts that use it', async () => {
    const { events, parts, part } = recorder();
    await parts.start('store', part('store'));
    await parts.start('calls', part('calls'));
    await parts.stop();
    expect(events).toEqual(['start store', 'start calls', 'stop calls', 'stopped calls', 'stop store', 'stopped store']);
  });

  test('a part that fails to stop is reported and the others still stop', async () => {
    const { events, parts, part } = recorder();
    await parts.start('etcd', part('etcd'));
    await parts.start('watch', part('watch', true));
    await parts.stop();
    expect(events.filter((e) => !e.startsWith('start'))).toEqual(['stop watch', 'failed watch', 'stop etcd', 'stopped etcd']);
  });

  test('stop is idempotent, and a part started once stopping began is let go at once', async () => {
    const { events, parts, part } = recorder();
    await parts.start('a', part('a'));
    const first = parts.stop();
    await expect(parts.start('late', part('late'))).rejects.toThrow(/late was not started: the daemon is stopping/);
    await Promise.all([first, parts.stop()]);
    expect(events.filter((e) => e === 'stop a')).toHaveLength(1);
    expect(events).toContain('stop late');
    expect(events).not.toContain('start late');
  });

  test('a part that holds the stop up is named in the log every 2 s until it stops', async () => {
    vi.useFakeTimers();
    try {
      const lines: Array<{ msg: string; part?: string; ms?: number }> = [];
      const parts = new Lifecycles({ info: (obj, msg) => lines.push({ msg, ...(obj as object) }), warn: (obj, msg) => lines.push({ msg, ...(obj as object) }) });
      let release = () => undefined as void;
      await parts.start('docker-sync', { stop: () => new Promise<void>((resolve) => { release = resolve; }) });
      const stopping = parts.stop();
      await vi.advanceTimersByTimeAsync(4_500);
      expect(lines.filter((l) => l.msg === 'still stopping').map((l) => l.part)).toEqual(['docker-sync', 'docker-sync']);
      release();
      await stopping;
      await vi.advanceTimersByTimeAsync(10_000);
      expect(lines.filter((l) => l.msg === 'still stopping')).toHaveLength(2);
      expect(lines.at(-1)).toMatchObject({ msg: 'stopped', part: 'docker-sync' });
    } finally {
      vi.useRealTimers();
    }
  });
});
