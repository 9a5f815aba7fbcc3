import type { SimulatedHost } from './sim-host.js';
import type { TsnetDaemon } from './tsnet-daemon.js';

/**
 * The end of a file that ran one tsnet on one simulated host: containers first, while tsnet
 * still answers (a dockerd whose plugin is gone retries it for ~30 s per call), then tsnet (by
 * its PID), then the host.
 */
export async function stopHostAndTsnet(host: SimulatedHost | undefined, tsnet: TsnetDaemon | undefined): Promise<void> {
  if (host) {
    const ids = (await host.docker(['ps', '-aq'], { allowFail: true })).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await host.docker(['rm', '-f', ...ids], { allowFail: true });
  }
  await tsnet?.process.stop(10_000);
  await host?.stop();
}
