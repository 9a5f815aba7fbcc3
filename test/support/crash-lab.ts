import { join } from 'node:path';
import { shortId } from '../../src/core/ids.js';
import { waitFor } from './exec.js';
import { HOST_UPLINK_IP, execIn } from './netns.js';
import { tail } from './process.js';
import type { SimulatedHost } from './dockerd.js';
import { describeFindings, diffKernel, diffStore, emptyFindings, findingCount, mergeFindings, type Findings } from './crash-diff.js';
import { observeDocker, observeKernel, readStoreFiles, readStoreStopped, type DockerState } from './crash-state.js';
import { startTsnetDaemon, type DaemonPlace, type TsnetDaemon, type TsnetDaemonOptions } from './tsnet-daemon.js';

/**
 * One simulated host with its tsnet, for crash tests: kill tsnet by its PID, restart it on the
 * same state, wait until kernel, store and Docker agree, and check that they do.
 */
export class CrashLab {
  private daemon: TsnetDaemon | undefined;
  /** Every tsnet this lab started, so that cleanup can stop a straggler by its PID. */
  private readonly started: TsnetDaemon[] = [];

  constructor(readonly host: SimulatedHost, private readonly defaults: TsnetDaemonOptions = {}) {}

  get place(): DaemonPlace {
    return { netnsPath: this.host.netnsPath, pluginsDir: this.host.pluginsDir, dir: this.host.dir, socketPath: this.host.socketPath };
  }

  get tsnet(): TsnetDaemon {
    if (!this.daemon) throw new Error('tsnet is not running in this lab');
    return this.daemon;
  }

  /** Whether a tsnet of this lab is running now. */
  get running(): boolean {
    return this.daemon?.process.isRunning() ?? false;
  }

  get stateDir(): string {
    return this.defaults.stateDir ?? join(this.host.dir, 'tsnet-state');
  }

  get logFile(): string {
    return join(this.host.dir, `${this.defaults.name ?? 'tsnet'}.log`);
  }

  /** Starts tsnet (options override the lab's defaults for this start only). */
  async start(options: TsnetDaemonOptions = {}, place: DaemonPlace = this.place): Promise<TsnetDaemon> {
    const daemon = await startTsnetDaemon(place, { ...this.defaults, ...options });
    this.daemon = daemon;
    this.started.push(daemon);
    return daemon;
  }

  /** SIGKILL by PID; resolves once the process is gone. */
  async kill(): Promise<void> {
    await this.daemon?.process.kill9();
  }

  /** SIGTERM by PID; the exit code (0 for a clean stop). */
  async stop(): Promise<number> {
    return (await this.daemon?.process.stop(15_000)) ?? 0;
  }

  /** The whole tsnet log of this lab (every daemon it ran). */
  async log(): Promise<string> {
    return (await this.daemon?.process.log()) ?? '';
  }

  /** The last lines of the tsnet log, without the debug lines of every program it ran. */
  async logTail(lines = 40): Promise<string> {
    return tail((await this.log()).split('\n').filter((l) => !l.includes('"component":"exec"')).join('\n'), lines);
  }

  /** Stops every tsnet this lab started that still runs (SIGTERM, then SIGKILL), by PID. */
  async cleanup(): Promise<void> {
    for (const daemon of this.started) if (daemon.process.isRunning()) await daemon.process.stop(10_000);
  }

  /** Kernel and Docker now, with the store read from its files while tsnet runs. */
  async snapshot(): Promise<{ docker: DockerState; findings: Findings }> {
    const docker = await observeDocker(this.host);
    const kernel = await observeKernel(this.host);
    const store = await readStoreFiles(this.stateDir);
    return { docker, findings: mergeFindings(diffKernel(docker, kernel, store), diffStore(docker, store)) };
  }

  /**
   * Waits (at most `timeoutMs`) until kernel, store and Docker agree, then returns how long that
   * took. On timeout it throws with the last difference and the tail of the tsnet log.
   */
  async waitForConvergence(timeoutMs: number): Promise<{ ms: number; docker: DockerState; initially: Findings }> {
    const started = Date.now();
    let last: Findings = emptyFindings();
    let initially: Findings | undefined;
    let lastError: unknown;
    for (;;) {
      try {
        const { docker, findings } = await this.snapshot();
        last = findings;
        initially ??= findings;
        lastError = undefined;
        if (findingCount(findings) === 0) return { ms: Date.now() - started, docker, initially };
      } catch (err) {
        lastError = err;
      }
      if (Date.now() - started > timeoutMs) {
        throw new Error(`kernel, store and Docker did not agree within ${timeoutMs} ms:\n${describeFindings(last)}${lastError ? `\nlast error: ${String(lastError)}` : ''}\n--- tsnet log tail ---\n${await this.logTail()}`);
      }
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }

  /**
   * The verdict: Docker and the kernel compared, every running container reached, then tsnet
   * stopped with SIGTERM, its store opened with the file store and compared, tsnet started
   * again, and the kernel compared once more (start-up must not bring anything back).
   * `markersBefore`: unanswered markers written before this are stale.
   */
  async check(options: { markersBefore: Date; banner?: (container: string) => string | undefined }): Promise<{ findings: Findings; unreachable: string[]; docker: DockerState }> {
    const docker = await observeDocker(this.host);
    const before = diffKernel(docker, await observeKernel(this.host), undefined);
    const unreachable = await unreachableContainers(this.host, docker, options.banner);
    const code = await this.stop();
    if (code !== 0) throw new Error(`tsnet exited with code ${code} on SIGTERM\n${await this.logTail()}`);
    const store = await readStoreStopped(this.stateDir);
    await this.start();
    const after = diffKernel(docker, await observeKernel(this.host), store);
    // The same link or rule found before and after the restart is one finding, not two.
    const findings = mergeFindings(before, diffStore(docker, store, { markersBefore: options.markersBefore }));
    for (const kind of ['leakedLinks', 'leakedRules', 'missing', 'duplicates'] as const) {
      for (const line of after[kind]) if (!findings[kind].includes(line)) findings[kind].push(`after the restart: ${line}`);
    }
    return { findings, unreachable, docker };
  }
}

/**
 * Every running container on a tsnet network answers a ping from the host namespace, and each
 * of its published TCP ports answers from the outside namespace with its banner (when `banner`
 * names one). Bounded retries: a lost packet is not a failure, no answer within 10 s is.
 */
export async function unreachableContainers(host: SimulatedHost, docker: DockerState, banner?: (container: string) => string | undefined, name = 'tsnet'): Promise<string[]> {
  const ours = new Set(docker.networks.filter((n) => n.driver === name).map((n) => n.id));
  const problems: string[] = [];
  await Promise.all(docker.containers.filter((c) => c.running).map(async (c) => {
    for (const attachment of c.networks.filter((a) => ours.has(a.networkId) && a.ip)) {
      const ok = await waitFor(async () => (await host.exec(['ping', '-c', '1', '-W', '1', attachment.ip], { allowFail: true, timeoutMs: 5_000 })).code === 0, { what: 'ping', timeoutMs: 10_000, intervalMs: 200 }).catch(() => false);
      if (!ok) problems.push(`container ${c.name} (${shortId(c.id)}) at ${attachment.ip} on ${attachment.name} does not answer ping from the host namespace`);
      const text = banner?.(c.name);
      for (const p of c.ports.filter((x) => x.proto === 'tcp' && text)) {
        const answered = await waitFor(async () => (await execIn(host.outside, ['busybox', 'nc', '-w', '2', HOST_UPLINK_IP, String(p.hostPort)], { allowFail: true, timeoutMs: 5_000 })).stdout.includes(text as string), { what: 'published port', timeoutMs: 10_000, intervalMs: 300 }).catch(() => false);
        if (!answered) problems.push(`published port ${p.hostPort}/tcp of container ${c.name} does not answer "${text}" from the outside namespace`);
      }
    }
  }));
  return problems;
}
