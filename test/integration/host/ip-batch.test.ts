import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, test } from 'vitest';
import { BatchingRunner, IpBatch } from '../../../src/host/ip-batch.js';
import { Iproute2HostNet } from '../../../src/host/iproute2.js';
import { CommandError, ExecRunner } from '../../../src/host/runner.js';
import { linkJson, log, sh, withTestNetns } from './netns-fixture.js';

/** Runs `body` with a pool of batch processes in namespace `ns`, and ends them afterwards. */
async function withBatch<T>(ns: string, options: { maxProcesses?: number; idleMs?: number; program?: 'ip' | 'bridge' }, body: (batch: IpBatch) => Promise<T>): Promise<T> {
  const { program = 'ip', ...rest } = options;
  const batch = new IpBatch({ log, command: [program, '-n', ns], ...rest });
  try {
    return await body(batch);
  } finally {
    await batch.close();
  }
}

const pidsIn = async (ns: string): Promise<string[]> => (await sh(['ip', 'netns', 'pids', ns])).split('\n').filter(Boolean);

describe('IpBatch: ip commands through long-lived `ip -batch` processes', () => {
  test('runs changes, reports a refused one with iproute2\'s message, and keeps going', async () => {
    const { ns } = await withTestNetns('batch');
    await withBatch(ns, {}, async (batch) => {
      await batch.run(['link', 'add', 'name', 'tsnv-b1', 'type', 'veth', 'peer', 'name', 'tsnp-b1']);
      const refused = await batch.run(['link', 'add', 'name', 'tsnv-b1', 'type', 'veth', 'peer', 'name', 'tsnp-b2']).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(CommandError);
      expect((refused as CommandError).result.stderr).toMatch(/File exists/);
      const missing = await batch.run(['link', 'del', 'dev', 'tsnv-none']).catch((err: unknown) => err);
      expect((missing as CommandError).result.stderr).toMatch(/Cannot find device "tsnv-none"/);
      await batch.run(['link', 'set', 'dev', 'tsnv-b1', 'mtu', '1400', 'up']);
      expect(await linkJson(ns, 'tsnv-b1')).toMatchObject({ mtu: 1400 });
      await batch.run(['link', 'del', 'dev', 'tsnv-b1']);
      expect(await sh(['ip', '-n', ns, '-br', 'link'])).not.toMatch(/tsnv-b1|tsnp-b1/);
    });
  });

  test('a command that makes iproute2 exit fails alone; the next command starts a new process', async () => {
    const { ns } = await withTestNetns('batch');
    await withBatch(ns, { maxProcesses: 1 }, async (batch) => {
      await batch.run(['link', 'add', 'name', 'tsnb-b1', 'type', 'bridge']);
      // iproute2 calls exit() on an invalid argument value, even in batch mode.
      const died = await batch.run(['link', 'set', 'dev', 'tsnb-b1', 'mtu', 'abc']).catch((err: unknown) => err);
      expect(died).toBeInstanceOf(CommandError);
      expect((died as CommandError).result.stderr).toMatch(/Invalid "mtu" value/);
      await batch.run(['link', 'set', 'dev', 'tsnb-b1', 'mtu', '1300']);
      expect(await linkJson(ns, 'tsnb-b1')).toMatchObject({ mtu: 1300 });
    });
  });

  test('commands from concurrent callers all run, spread over at most maxProcesses processes', async () => {
    const { ns } = await withTestNetns('batch');
    await withBatch(ns, { maxProcesses: 3 }, async (batch) => {
      const names = Array.from({ length: 12 }, (_, i) => `tsnv-c${i}`);
      await Promise.all(names.map((n, i) => batch.run(['link', 'add', 'name', n, 'type', 'veth', 'peer', 'name', `tsnp-c${i}`])));
      expect((await pidsIn(ns)).length).toBeLessThanOrEqual(3);
      const links = await sh(['ip', '-n', ns, '-br', 'link']);
      for (const n of names) expect(links).toContain(n);
      await Promise.all(names.map((n) => batch.run(['link', 'del', 'dev', n])));
      expect(await sh(['ip', '-n', ns, '-br', 'link'])).not.toMatch(/tsnv-c/);
    });
  });

  test('an idle process exits, and close() ends the rest', async () => {
    const { ns } = await withTestNetns('batch');
    await withBatch(ns, { idleMs: 100 }, async (batch) => {
      await batch.run(['link', 'set', 'dev', 'lo', 'up']);
      expect(await pidsIn(ns)).toHaveLength(1);
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(await pidsIn(ns)).toHaveLength(0);
      await batch.run(['link', 'set', 'dev', 'lo', 'up']);
      expect(await pidsIn(ns)).toHaveLength(1);
      await batch.close();
      expect(await pidsIn(ns)).toHaveLength(0);
    });
  });

  test('a command that does not finish in time is killed and reported as a timeout', async () => {
    // A stand-in that never answers: `exec sleep 30` ignores the batch arguments it is given.
    const batch = new IpBatch({ log, command: ['bash', '-c', 'exec sleep 30', 'sleeper'] });
    const started = performance.now();
    const err = await batch.run(['link', 'show'], 300).catch((e: unknown) => e);
    expect((err as CommandError).result.stderr).toMatch(/timeout/);
    expect(performance.now() - started).toBeLessThan(5_000);
    await batch.close();
  });

  test('lines batch mode would parse differently are not batched', () => {
    const batch = new IpBatch({ log });
    expect(batch.lineOf(['ip', 'link', 'del', 'dev', 'tsnv-1'])).toEqual(['link', 'del', 'dev', 'tsnv-1']);
    expect(batch.lineOf(['ip', '-n', 'other', 'link', 'del', 'dev', 'x'])).toBeUndefined();
    expect(batch.lineOf(['ip', 'link', 'set', 'dev', 'a b', 'up'])).toBeUndefined();
    expect(batch.lineOf(['ip', 'link', 'set', 'dev', 'x#y', 'up'])).toBeUndefined();
    expect(batch.lineOf(['ip', 'link', 'set', 'dev', '"x"', 'up'])).toBeUndefined();
    expect(batch.lineOf(['iptables', '-L'])).toBeUndefined();
  });
});

describe('BatchingRunner', () => {
  test('a batch process\'s stale interface name (a bridge deleted and made again) is healed by running the command on its own', async () => {
    const { ns } = await withTestNetns('batch');
    const lines: string[] = [];
    const capture = pino({ level: 'debug' }, new Writable({ write(chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done(); } }));
    await withBatch(ns, { maxProcesses: 1 }, async (batch) => {
      const host = new Iproute2HostNet({ runner: new BatchingRunner(new ExecRunner(log), batch, capture), netns: ns });
      await host.apply({ op: 'ensure-bridge', name: 'tsnb-s1', mtu: 1500 });
      await host.apply({ op: 'ensure-veth', host: 'tsnv-s1', peer: 'tsnp-s1', master: 'tsnb-s1', mtu: 1500 });
      // Behind the batch process's back, as a user or another tool would.
      await sh(['ip', '-n', ns, 'link', 'del', 'dev', 'tsnb-s1']);
      await sh(['ip', '-n', ns, 'link', 'add', 'name', 'tsnb-s1', 'type', 'bridge']);
      await host.apply({ op: 'ensure-veth', host: 'tsnv-s2', peer: 'tsnp-s2', master: 'tsnb-s1', mtu: 1500 });
      expect(await linkJson(ns, 'tsnv-s2')).toMatchObject({ master: 'tsnb-s1' });
      expect(lines.join('')).toMatch(/running it on its own/);
      expect(await host.apply({ op: 'remove-link', name: 'tsnv-s2' })).toBe(true);
      expect(await host.apply({ op: 'remove-link', name: 'tsnv-s2' })).toBe(false);
      // A neighbour entry's removal goes through the batch; a missing one is refused there and answered false by the rerun.
      await host.apply({ op: 'ensure-neigh', dev: 'tsnb-s1', ip: '10.9.9.9', mac: '02:00:00:00:09:09' });
      expect(await host.listNeigh('tsnb-s1')).toEqual([{ ip: '10.9.9.9', mac: '02:00:00:00:09:09' }]);
      expect(await host.apply({ op: 'remove-neigh', dev: 'tsnb-s1', ip: '10.9.9.9' })).toBe(true);
      expect(await host.listNeigh('tsnb-s1')).toEqual([]);
      expect(await host.apply({ op: 'remove-neigh', dev: 'tsnb-s1', ip: '10.9.9.9' })).toBe(false);
    });
  });

  test('forwarding entries go through a `bridge` batch beside the `ip` one; a missing entry\'s removal is answered false', async () => {
    const { ns } = await withTestNetns('bbatch');
    const lines: string[] = [];
    const capture = pino({ level: 'debug' }, new Writable({ write(chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done(); } }));
    await withBatch(ns, {}, (ipBatch) => withBatch(ns, { program: 'bridge' }, async (bridgeBatch) => {
      const host = new Iproute2HostNet({ runner: new BatchingRunner(new ExecRunner(log), [ipBatch, bridgeBatch], capture), netns: ns });
      await sh(['ip', '-n', ns, 'link', 'add', 'tsnx-b1', 'type', 'vxlan', 'id', '4243', 'local', '198.19.9.1', 'dstport', '4789', 'nolearning']);
      const fdb = { dev: 'tsnx-b1', mac: '02:00:00:00:0b:01', dst: '198.19.9.2' };
      expect(await host.apply({ op: 'ensure-fdb', ...fdb })).toBe(true);
      expect(await host.apply({ op: 'ensure-flood', dev: 'tsnx-b1', dst: '198.19.9.2' })).toBe(true);
      expect(await host.apply({ op: 'ensure-flood', dev: 'tsnx-b1', dst: '198.19.9.3' })).toBe(true);
      expect(await host.listFdb('tsnx-b1')).toEqual(expect.arrayContaining([
        { mac: fdb.mac, dst: fdb.dst }, { mac: '00:00:00:00:00:00', dst: '198.19.9.2' }, { mac: '00:00:00:00:00:00', dst: '198.19.9.3' },
      ]));
      expect(await host.apply({ op: 'remove-fdb', ...fdb })).toBe(true);
      expect(await host.apply({ op: 'remove-fdb', ...fdb })).toBe(false);
      expect(await host.apply({ op: 'remove-flood', dev: 'tsnx-b1', dst: '198.19.9.2' })).toBe(true);
      expect(await host.apply({ op: 'remove-flood', dev: 'tsnx-b1', dst: '198.19.9.3' })).toBe(true);
      expect(await host.apply({ op: 'remove-flood', dev: 'tsnx-b1', dst: '198.19.9.3' })).toBe(false);
      expect(await host.listFdb('tsnx-b1')).toEqual([]);
      // The changes ran in the batch: only the two refused removals were run again on their own.
      expect(lines.filter((l) => l.includes('running it on its own') && l.includes('"bridge"'))).toHaveLength(2);
    }));
  });
});
