import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { onTestFinished } from 'vitest';
import { pino } from 'pino';
import { ExecRunner } from '../../../src/host/runner.js';
import { Iproute2HostNet } from '../../../src/host/iproute2.js';

const exec = promisify(execFile);
export const log = pino({ level: 'silent' });
export const runner = new ExecRunner(log);

/** Runs a command and returns stdout; throws with stderr on failure. */
export async function sh(argv: string[]): Promise<string> {
  const [program, ...args] = argv;
  const { stdout } = await exec(program as string, args);
  return stdout;
}

/**
 * A throwaway network namespace for one test. Its deletion is registered before it is created,
 * so it goes away even when the test fails; everything created inside dies with it.
 */
export async function withTestNetns(purpose = 'h'): Promise<{ ns: string; host: Iproute2HostNet; exec: (argv: string[]) => Promise<string> }> {
  const ns = `tsnt-${purpose}-${randomBytes(3).toString('hex')}`;
  onTestFinished(async () => {
    // Absent is fine (creation failed, or the test removed it); one left behind fails the test.
    const failure = await exec('ip', ['netns', 'delete', ns]).then(() => undefined, (err: Error) => err);
    if (failure && existsSync(`/run/netns/${ns}`)) throw new Error(`test namespace ${ns} could not be deleted: ${failure.message}`);
  });
  await exec('ip', ['netns', 'add', ns]);
  await exec('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  return { ns, host: new Iproute2HostNet({ runner, netns: ns }), exec: (argv) => sh(['ip', 'netns', 'exec', ns, ...argv]) };
}

export async function linkJson(ns: string, name: string): Promise<Record<string, unknown> & { linkinfo?: { info_kind?: string } }> {
  const [link] = JSON.parse(await sh(['ip', '-n', ns, '-json', '-details', 'link', 'show', 'dev', name])) as Array<Record<string, unknown>>;
  return link as Record<string, unknown>;
}
