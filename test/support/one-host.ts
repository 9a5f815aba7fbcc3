import { afterAll, beforeAll } from 'vitest';
import type { ExecResult } from './exec.js';
import { ensureTestImage } from './image.js';
import { startSimulatedHost, type SimulatedHost } from './sim-host.js';
import { stopHostAndTsnet } from './teardown.js';
import { startTsnetDaemon, type TsnetDaemon } from './tsnet-daemon.js';

/** What a test file that runs one tsnet on one simulated host works with. */
export interface OneHost {
  /** The host; throws when it did not start. */
  host(): SimulatedHost;
  /** The test image's name in the host's dockerd. */
  image(): string;
  docker(...args: string[]): Promise<ExecResult>;
  /** `docker …` that may fail: the result, whatever the exit code. */
  tryDocker(...args: string[]): Promise<ExecResult>;
  /** Names of the links in the host's namespace, sorted (to check that nothing was left). */
  hostLinks(): Promise<string[]>;
  /** tsnet's state directory (the CLI finds the daemon's admin socket by it). */
  stateDir(): string;
}

/**
 * Registers the file's beforeAll (a simulated host, tsnet on it, the test image) and afterAll
 * (containers, then tsnet by PID, then the host), and returns accessors for the tests.
 */
export function useOneHost(name: string): OneHost {
  let host: SimulatedHost | undefined;
  let tsnet: TsnetDaemon | undefined;
  let image: string | undefined;
  beforeAll(async () => {
    host = await startSimulatedHost({ name });
    tsnet = await startTsnetDaemon(host);
    image = await ensureTestImage(host);
  });
  afterAll(() => stopHostAndTsnet(host, tsnet));
  const h = (): SimulatedHost => {
    if (!host) throw new Error('the simulated host did not start');
    return host;
  };
  return {
    host: h,
    image: () => {
      if (!image) throw new Error('the test image was not made');
      return image;
    },
    docker: (...args) => h().docker(args),
    tryDocker: (...args) => h().docker(args, { allowFail: true }),
    stateDir: () => {
      if (!tsnet) throw new Error('tsnet did not start');
      return tsnet.stateDir;
    },
    hostLinks: async () => (await h().exec(['ip', '-o', 'link'])).stdout.split('\n').filter(Boolean).map((l) => l.split(': ')[1]?.split('@')[0] ?? '').sort(),
  };
}
