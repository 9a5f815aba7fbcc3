import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, test } from 'vitest';
import { callDeadline, forwardStep } from '../../../src/core/deadline.js';
import { TsnetError } from '../../../src/core/errors.js';
import { LauncherRunner, sweepStaleLaunchDirs } from '../../../src/host/launcher.js';
import { CommandError } from '../../../src/host/runner.js';
import { sh } from './netns-fixture.js';

const log = pino({ level: 'silent' });
const launcher = new LauncherRunner({ log, maxShells: 2 });
afterAll(() => launcher.close());

/** True while a process with this exact command line runs (each test's sleep has its own length). */
const running = async (argv: string): Promise<boolean> => (await sh(['ps', '-eo', 'args'])).split('\n').some((line) => line.trim() === argv);

describe('LauncherRunner: programs started from long-lived shells behave as spawned ones', () => {
  test('every argument reaches the program exactly as given: nothing in it means anything to the shell', async () => {
    const words = ["it's", 'a b', '$(touch /tmp/tsnet-launch-pwned)', '`id`', '; echo no', '*', '"', '\\', 'line\nbreak', '', '-n', '$HOME', '&&', '|', '>x'];
    const { stdout } = await launcher.run(['printf', '[%s]\\n', ...words]);
    expect(stdout).toBe(words.map((w) => `[${w}]\n`).join(''));
    expect(existsSync('/tmp/tsnet-launch-pwned')).toBe(false);
  });

  test('standard input, output and error are the program\'s own; exit codes as spawn reports them', async () => {
    expect(await launcher.run(['cat'], { input: 'first\nsecond\n' })).toEqual({ code: 0, stdout: 'first\nsecond\n', stderr: '' });
    expect((await launcher.run(['cat'])).stdout).toBe(''); // no input: end of file at once, as /dev/null
    const err = await launcher.run(['sh', '-c', 'echo out; echo oops >&2; exit 3']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).result).toEqual({ code: 3, stdout: 'out\n', stderr: 'oops\n' });
    expect(await launcher.run(['sh', '-c', 'exit 1'], { okCodes: [1] })).toMatchObject({ code: 1 });
  });

  test('a missing program is TSNET_HOST_EXEC with the install hint, as with spawn', async () => {
    const err = await launcher.run(['tsnet-no-such-program', 'x']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TsnetError);
    expect(err).toMatchObject({ code: 'TSNET_HOST_EXEC' });
    expect(String((err as Error).message)).toMatch(/could not run tsnet-no-such-program/);
  });

  test('a program past its timeout is killed (the program, not only the shell), and the shell serves the next', async () => {
    const err = await launcher.run(['sleep', '29.3'], { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect(String((err as Error).message)).toMatch(/killed by SIGKILL/);
    expect(await running('sleep 29.3')).toBe(false);
    expect((await launcher.run(['echo', 'after'])).stdout).toBe('after\n');
  });

  test('a cancellable program is killed when the call\'s deadline passes; one that is not runs to its end', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(new TsnetError('TSNET_DEADLINE', 'the test call ran out of time', 'retry')), 150);
    const err = await callDeadline.run(controller.signal, () => forwardStep(() => launcher.run(['sleep', '28.7'], { cancellable: true }))).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TSNET_DEADLINE' });
    expect(await running('sleep 28.7')).toBe(false);
    const late = new AbortController();
    setTimeout(() => late.abort(new TsnetError('TSNET_DEADLINE', 'the test call ran out of time', 'retry')), 50);
    expect((await callDeadline.run(late.signal, () => forwardStep(() => launcher.run(['sleep', '0.3'])))).code).toBe(0);
  });

  test('programs run side by side up to the number of shells, the rest wait their turn', async () => {
    const started = performance.now();
    await Promise.all([1, 2, 3, 4].map(() => launcher.run(['sleep', '0.4'])));
    const ms = performance.now() - started;
    expect(ms).toBeGreaterThanOrEqual(780); // two rounds of two, never four at once
  });

  test('a shell killed while it runs a program fails that program only; the next starts a new shell', async () => {
    const pending = launcher.run(['sleep', '27.1']);
    // The shell is the parent of the sleep it started.
    let shellPid = '';
    for (let i = 0; i < 50 && !shellPid; i++) {
      shellPid = (await sh(['ps', '-eo', 'ppid,args'])).split('\n').map((l) => l.trim().split(/\s+/)).find((cols) => cols.slice(1).join(' ') === 'sleep 27.1')?.[0] ?? '';
      if (!shellPid) await new Promise((r) => setTimeout(r, 20));
    }
    expect(shellPid).not.toBe('');
    process.kill(Number(shellPid), 'SIGKILL');
    await expect(pending).rejects.toThrow(/shell that runs tsnet's programs ended/);
    await sh(['pkill', '-f', '^sleep 27.1$']).catch(() => undefined);
    expect((await launcher.run(['echo', 'again'])).stdout).toBe('again\n');
  });

  test('close() ends the shells and removes their private directory; later runs are refused', async () => {
    const own = new LauncherRunner({ log });
    await own.run(['true']);
    const dir = (own as unknown as { dir: string }).dir;
    expect(existsSync(dir)).toBe(true);
    await own.close();
    expect(existsSync(dir)).toBe(false);
    await expect(own.run(['true'])).rejects.toThrow(/closed/);
  });
});

describe('LauncherRunner: its private directory', () => {
  test('a launcher removes the directories of launchers whose process ended (a daemon killed with SIGKILL), never a live one\'s', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'tsnet-sweep-test-'));
    try {
      const ended = spawnSync('true').pid;
      for (const name of [`tsnet-launch-${ended}-abc`, `tsnet-launch-${process.pid}-def`, `tsnet-launch-1-ghi`, 'tsnet-launch-xyz', 'other']) mkdirSync(join(parent, name));
      expect(sweepStaleLaunchDirs(parent, log)).toBe(1);
      expect(readdirSync(parent).sort()).toEqual([`tsnet-launch-${process.pid}-def`, 'tsnet-launch-1-ghi', 'tsnet-launch-xyz', 'other'].sort());
      expect(sweepStaleLaunchDirs(join(parent, 'no-such-dir'), log)).toBe(0); // a missing parent is not an error
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  test('the directory is named with the daemon\'s pid and is gone after close', async () => {
    const own = new LauncherRunner({ log });
    await own.run(['true']);
    const mine = () => readdirSync(tmpdir()).filter((n) => n.startsWith(`tsnet-launch-${process.pid}-`));
    const before = mine();
    expect(before.length).toBeGreaterThan(0);
    await own.close();
    expect(mine().length).toBe(before.length - 1);
  });
});
