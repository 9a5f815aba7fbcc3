import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createNetns, deleteNetns, netnsPath, uniqueNetnsName } from './netns.js';
import { startTsnetDaemon, type TsnetDaemon } from './tsnet-daemon.js';

export interface NetnsDaemon {
  /** The namespace's name (for execIn). */
  readonly ns: string;
  /** The running daemon; throws before beforeAll has started it. */
  daemon(): TsnetDaemon;
  /** The file's scratch directory (state, plugin socket). */
  dir(): string;
}

/**
 * One tsnet daemon for the tests of a file, in a network namespace of its own and without
 * Docker: started in beforeAll (after `prepare`, which may put things into the namespace first),
 * stopped with its namespace and directory removed in afterAll, whatever the tests did.
 */
export function netnsDaemon(label: string, options: { extraArgs?: readonly string[]; prepare?: (ns: string) => Promise<void> } = {}): NetnsDaemon {
  const ns = uniqueNetnsName(label);
  let dir = '';
  let daemon: TsnetDaemon | undefined;
  afterAll(async () => {
    await daemon?.process.stop(10_000);
    await deleteNetns(ns);
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `tsnet-${label}-`));
    await createNetns(ns);
    await options.prepare?.(ns);
    daemon = await startTsnetDaemon({ netnsPath: netnsPath(ns), pluginsDir: join(dir, 'plugins'), dir }, { extraArgs: ['--log-level', 'warn', ...(options.extraArgs ?? [])] });
  }, 120_000);
  return {
    ns,
    daemon: () => {
      if (!daemon) throw new Error(`the ${label} daemon is not running (its beforeAll failed or has not run)`);
      return daemon;
    },
    dir: () => dir,
  };
}
