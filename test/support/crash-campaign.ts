import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { shortId } from '../../src/core/ids.js';
import type { ExecResult } from './exec.js';
import { ensureTestImage } from './image.js';
import { startSimulatedHost, type SimulatedHost } from './dockerd.js';
import { CrashLab } from './crash-lab.js';
import { checkTheCheckers } from './crash-selftest.js';
import { FINDING_KINDS, describeFindings, emptyFindings, findingCount, mergeFindings, type Findings } from './crash-diff.js';
import { parseLog, syncReports } from './crash-log.js';
import { observeDocker, readStoreFiles, type DockerState } from './crash-state.js';

/**
 * The crash campaign of issue 7: rounds of concurrent `docker network create/rm` and
 * `docker run/rm` through a real dockerd 20.10 while tsnet is killed with SIGKILL at a random
 * moment and restarted; after each round, Docker's retry of every failed create must succeed,
 * and kernel, tsnet's store and Docker must come to agree within a bound: no leaked link or
 * rule, no orphan record or allocation, no duplicate address, every container reachable.
 */

export interface CampaignOptions {
  readonly rounds: number;
  /** Seed of the random choices (ops, kill moments); printed, so a run can be repeated. */
  readonly seed?: number;
  /** How long the churn of one round lasts, in ms (a range). Default 5–10 s. */
  readonly churnMs?: readonly [number, number];
  /** Concurrent churn workers per round (a range). Default 2–3. */
  readonly workers?: readonly [number, number];
  /** Bound on convergence after the churn. Default 120 s. */
  readonly convergeTimeoutMs?: number;
  /** Where progress lines go. Default console.log. */
  readonly print?: (line: string) => void;
  /** Go on after a round that failed (the benchmark may; the CI test stops). Default false. */
  readonly keepGoing?: boolean;
  /**
   * Give every `--ipam-driver tsnet` network an explicit `--gateway`. Off by default; it keeps
   * tsnet's IpamSync from releasing a gateway Docker's API does not show (a known product bug,
   * test/e2e/crash.test.ts "the gateway tsnet IPAM gave…"), so other findings can be measured.
   */
  readonly explicitGateway?: boolean;
  /**
   * Where the tsnet and dockerd logs are copied when a round failed (the host's own directory
   * goes with it). Default: a new directory under /tmp, printed.
   */
  readonly logDir?: string;
}

/** One docker command a worker (or a retry) ran. */
interface Op {
  readonly kind: 'create-net' | 'rm-net' | 'run' | 'rm-ctr';
  readonly args: readonly string[];
  /** What the op is about: a network or container name. */
  readonly target: string;
  readonly net?: NetSpec;
  readonly ctr?: CtrSpec;
  readonly start: number;
  end?: number;
  result?: ExecResult;
}

interface NetSpec {
  readonly name: string;
  readonly subnet: string;
  readonly ipam: 'default' | 'tsnet';
}

interface CtrSpec {
  readonly name: string;
  readonly network: string;
  readonly hostPort?: number;
  readonly ip?: string;
}

export interface RoundReport {
  readonly round: number;
  readonly workers: number;
  readonly ops: number;
  readonly opsOk: number;
  readonly opsFailed: number;
  /** Failed ops Docker or tsnet refused for a reason that still holds (subnet, port or address taken by another). */
  readonly refusedLegitimately: number;
  /** Each failed op and the last line of what Docker said. */
  readonly failures: readonly string[];
  /** ms into the churn when tsnet was killed. */
  readonly killAtMs: number;
  /** Ops running when tsnet was killed. */
  readonly inFlightAtKill: readonly string[];
  readonly restartMs: number;
  readonly retriesOk: number;
  readonly retriesSkipped: number;
  readonly retriesFailed: readonly string[];
  /** "has active endpoints" on a network with no container: dockerd 20.10's own miscount. */
  readonly dockerMiscounts: readonly string[];
  /** What tsnet's convergence with Docker removed during the round (from its log). */
  readonly tsnetRemoved: { readonly networks: number; readonly endpoints: number };
  /** ms from the end of the churn and retries until kernel, store and Docker agreed; undefined if they never did. */
  readonly convergeMs: number | undefined;
  /** What disagreed when the wait for convergence began (kind and count), e.g. "ipamLeaks 1". */
  readonly convergedFrom: string;
  readonly findings: Findings;
  readonly unreachable: readonly string[];
  readonly networks: number;
  readonly containers: number;
  /** Why the round failed, with the full diff and the tsnet log tail; undefined when it passed. */
  readonly failure?: string;
}

export interface CampaignTotals {
  readonly rounds: number;
  readonly kills: number;
  readonly ops: number;
  readonly failedOps: number;
  readonly refusedLegitimately: number;
  readonly retriesOk: number;
  readonly retriesSkipped: number;
  readonly retriesFailed: number;
  readonly dockerMiscounts: number;
  readonly convergeMaxMs: number;
  readonly convergeMedianMs: number;
  /** Every leak, orphan, duplicate, missing object and unreachable container, over all rounds. */
  readonly leaks: number;
  readonly failedRounds: number;
}

export interface CampaignReport {
  readonly seed: number;
  /** The planted faults the checks caught before the first round (crash-selftest.ts). */
  readonly checksCaught: readonly string[];
  /** The quiet period after the last round; undefined when the rounds stopped early. */
  readonly soak: { readonly ms: number; readonly failure?: string } | undefined;
  readonly rounds: readonly RoundReport[];
  readonly totals: CampaignTotals;
}

const SUBNETS = ['10.250.0.0/24', '10.250.1.0/24', '10.250.2.0/24', '10.250.3.0/24', '10.250.4.0/24', '10.250.5.0/24'];
const HOST_PORTS = [18200, 18201, 18202, 18203, 18204, 18205];
const MAX_NETWORKS = 4;
const MAX_CONTAINERS = 10;
/** Longer than any grace period of tsnet's convergence with Docker (60 s), plus a look. */
const SOAK_MS = 80_000;
/** The container command: answers each TCP connection on port 80 with its banner (`$0`). */
const LISTEN = ['sh', '-c', 'while true; do echo "$0" | nc -l -p 80; done'];
const banner = (container: string) => (container.startsWith('cc-') ? `hi-${container}` : undefined);

/** Deterministic PRNG (mulberry32): the same seed gives the same choices. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class CrashCampaign {
  private host: SimulatedHost | undefined;
  private lab: CrashLab | undefined;
  private image = '';
  private readonly random: () => number;
  readonly seed: number;
  private readonly print: (line: string) => void;
  private disposed = false;

  /** What the churn believes exists; rebuilt from Docker after every round. */
  private nets = new Map<string, NetSpec>();
  private ctrs = new Map<string, CtrSpec>();
  /** Names some worker is working on right now, so two workers do not pick the same object. */
  private readonly busy = new Set<string>();
  /** Networks dockerd cannot remove because of its own endpoint miscount. */
  private readonly stuck = new Set<string>();

  constructor(private readonly options: CampaignOptions) {
    this.seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
    this.random = rng(this.seed);
    this.print = options.print ?? ((line) => console.log(line));
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)] as T;
  }

  private between([min, max]: readonly [number, number]): number {
    return Math.round(min + this.random() * (max - min));
  }

  async run(): Promise<CampaignReport> {
    const rounds: RoundReport[] = [];
    this.print(`crash campaign: ${this.options.rounds} rounds, seed ${this.seed}${this.options.explicitGateway ? ', every tsnet IPAM network with --gateway' : ''}`);
    const started = Date.now();
    this.host = await startSimulatedHost('crashcamp');
    this.lab = new CrashLab(this.host);
    this.image = await ensureTestImage(this.host);
    await this.lab.start();
    const checksCaught = await checkTheCheckers(this.lab, this.image);
    this.print(`checks caught all ${checksCaught.length} planted faults: ${checksCaught.join('; ')}`);
    for (let round = 1; round <= this.options.rounds && !this.disposed; round++) {
      const report = await this.round(round);
      rounds.push(report);
      this.print(formatRound(report, this.options.rounds));
      if (report.failure) {
        this.print(`round ${round} FAILED:\n${report.failure}`);
        if (!this.options.keepGoing) break;
      }
    }
    const stopped = rounds.some((r) => r.failure) && !this.options.keepGoing;
    const soak = stopped || this.disposed ? undefined : await this.soak();
    if (soak) this.print(soak.failure ? `soak FAILED after ${seconds(soak.ms)}:\n${soak.failure}` : `soak: ${seconds(soak.ms)} with tsnet left alone, nothing Docker uses was removed, kernel, store and Docker still agree`);
    const totals = totalsOf(rounds);
    this.print(formatTotals(totals, this.seed, Date.now() - started));
    if (totals.failedRounds > 0 || soak?.failure) this.print(`tsnet and dockerd logs of this run: ${await this.saveLogs()}`);
    return { seed: this.seed, checksCaught, rounds, soak, totals };
  }

  /**
   * After the rounds, tsnet is left alone for SOAK_MS (every round restarts it, which resets
   * the grace periods of its convergence with Docker): with a tsnet IPAM network without
   * --gateway and a published port in use, nothing Docker uses may be removed meanwhile, and
   * kernel, store and Docker must still agree at the end.
   */
  private async soak(): Promise<{ ms: number; failure?: string }> {
    const lab = this.labNow;
    const started = Date.now();
    try {
      const gateway = this.options.explicitGateway ? ['--gateway', '10.251.1.1'] : [];
      await lab.host.docker(['network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.251.1.0/24', ...gateway, 'cn-soak']);
      await lab.host.docker(['run', '-d', '--name', 'cc-soak', '--network', 'cn-soak', '-p', '18290:80', this.image, ...LISTEN, 'hi-cc-soak']);
      await lab.waitForConvergence(this.options.convergeTimeoutMs ?? 120_000);
      const logFrom = (await lab.log()).length;
      await sleep(SOAK_MS);
      const { findings } = await lab.snapshot();
      const removed = syncReports((await lab.log()).slice(logFrom)).flatMap((r) => [...r.removedNetworks, ...r.removedEndpoints]);
      const released = parseLog((await lab.log()).slice(logFrom)).filter((l) => l.msg === 'released what no Docker network of this host uses').map((l) => `${String(l.pool)} ${String(l.what)}`);
      const checked = await lab.check({ markersBefore: new Date(), banner });
      const all = mergeFindings(findings, checked.findings);
      const problems = [
        ...(findingCount(all) > 0 ? [describeFindings(all)] : []),
        ...checked.unreachable.map((u) => `unreachable: ${u}`),
        ...removed.map((id) => `tsnet removed ${id}, which Docker has not removed`),
        ...released.map((r) => `tsnet's IPAM released ${r}`),
      ];
      return { ms: Date.now() - started, failure: problems.length > 0 ? `${problems.join('\n')}\n--- tsnet log tail ---\n${await lab.logTail()}` : undefined };
    } catch (err) {
      return { ms: Date.now() - started, failure: `${err instanceof Error ? err.message : String(err)}\n--- tsnet log tail ---\n${await lab.logTail()}` };
    }
  }

  /** Removes everything the campaign made: containers, networks, tsnet (by PID), the host. Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const problems: string[] = [];
    const host = this.host;
    if (host && this.lab) {
      if (!this.lab.running) await this.lab.start().catch((err: unknown) => problems.push(String(err)));
      const ids = (await host.docker(['ps', '-aq'], { allowFail: true, timeoutMs: 30_000 }).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await host.docker(['rm', '-f', ...ids], { allowFail: true, timeoutMs: 120_000 }).catch(() => undefined);
      await this.lab.cleanup().catch((err: unknown) => problems.push(String(err)));
    }
    await host?.stop().catch((err: unknown) => problems.push(err instanceof Error ? err.message : String(err)));
    if (problems.length > 0) throw new Error(`crash campaign cleanup: ${problems.join('; ')}`);
  }

  private get labNow(): CrashLab {
    if (!this.lab) throw new Error('the campaign has not started');
    return this.lab;
  }

  private async round(round: number): Promise<RoundReport> {
    const lab = this.labNow;
    const host = lab.host;
    const workers = this.between(this.options.workers ?? [2, 3]);
    const churnMs = this.between(this.options.churnMs ?? [5_000, 10_000]);
    const killAtMs = this.between([300, churnMs]);
    const restartDelayMs = this.between([0, 1_500]);
    const roundStart = Date.now();
    const logBefore = (await lab.log()).length;
    const ops: Op[] = [];
    const churnEnd = roundStart + churnMs;

    let killedAt = 0;
    let restartMs = 0;
    const killer = (async () => {
      await sleep(killAtMs);
      killedAt = Date.now();
      await lab.kill();
      await sleep(restartDelayMs);
      await lab.start();
      restartMs = Date.now() - killedAt;
    })();
    const churn = Array.from({ length: workers }, (_, w) => this.worker(round, w, churnEnd, ops));
    const settled = await Promise.allSettled([killer, ...churn]);
    const broken = settled.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []));
    const inFlightAtKill = ops.filter((op) => op.start <= killedAt && (op.end ?? Infinity) >= killedAt).map((op) => `${op.kind} ${op.target}`);
    const failed = ops.filter((op) => op.result && op.result.code !== 0);

    // Docker's retry of what failed, against Docker as it is now.
    let docker = await observeDocker(host);
    const retry = await this.retryFailed(failed, docker);
    const quietAt = new Date();

    let convergeMs: number | undefined;
    let convergedFrom = '';
    let findings = emptyFindings();
    let unreachable: string[] = [];
    let failure: string | undefined = broken.length > 0 ? `churn or restart failed: ${broken.join('; ')}` : undefined;
    try {
      const converged = await lab.waitForConvergence(this.options.convergeTimeoutMs ?? 120_000);
      convergeMs = converged.ms;
      convergedFrom = FINDING_KINDS.filter((k) => converged.initially[k].length > 0).map((k) => `${k} ${converged.initially[k].length}`).join(', ');
      const checked = await lab.check({ markersBefore: new Date(quietAt.getTime() + converged.ms), banner });
      findings = checked.findings;
      unreachable = checked.unreachable;
      docker = checked.docker;
    } catch (err) {
      failure = `${failure ? `${failure}\n` : ''}${err instanceof Error ? err.message : String(err)}`;
      docker = await observeDocker(host).catch(() => docker);
    }
    // What the retries made must be part of the state.
    for (const op of retry.succeeded) {
      const there = op.kind === 'create-net' ? docker.networks.some((n) => n.name === op.target) : docker.containers.some((c) => c.name === op.target && c.running);
      if (!there) retry.failed.push(`${op.kind} ${op.target} succeeded on retry but is not in Docker afterwards`);
    }
    const leaks = FINDING_KINDS.reduce((n, k) => n + findings[k].length, 0) + unreachable.length;
    if (failure || leaks > 0 || retry.failed.length > 0) {
      const parts = [failure ?? '', describeFindings(findings), ...unreachable.map((u) => `unreachable: ${u}`), ...retry.failed.map((r) => `retry failed: ${r}`)];
      // A convergence timeout already carries the log tail.
      if (!failure) parts.push(`--- tsnet log tail ---\n${await lab.logTail()}`);
      failure = parts.filter(Boolean).join('\n');
    }
    const reports = syncReports((await lab.log()).slice(logBefore));
    this.refreshModel(docker);
    return {
      round, workers, ops: ops.length, opsOk: ops.length - failed.length, opsFailed: failed.length, refusedLegitimately: retry.legit,
      failures: failed.map((op) => `${op.kind} ${op.target}: ${dockerError(op.result?.stderr ?? '').slice(0, 240)}`),
      killAtMs, inFlightAtKill, restartMs, retriesOk: retry.succeeded.length, retriesSkipped: retry.skipped, retriesFailed: retry.failed,
      dockerMiscounts: retry.miscounts,
      tsnetRemoved: { networks: reports.reduce((n, r) => n + r.removedNetworks.length, 0), endpoints: reports.reduce((n, r) => n + r.removedEndpoints.length, 0) },
      convergeMs, convergedFrom, findings, unreachable, networks: docker.networks.filter((n) => n.driver === 'tsnet').length, containers: docker.containers.filter((c) => c.running).length, failure,
    };
  }

  /** One churn worker: random docker commands until the churn ends. */
  private async worker(round: number, w: number, until: number, ops: Op[]): Promise<void> {
    for (let k = 0; Date.now() < until; k++) {
      const op = this.nextOp(round, w, k);
      if (!op) {
        await sleep(200);
        continue;
      }
      ops.push(op);
      this.busy.add(op.target);
      if (op.ctr) this.busy.add(`net:${op.ctr.network}`);
      try {
        op.result = await this.labNow.host.docker(op.args, { allowFail: true, timeoutMs: 150_000 });
      } finally {
        op.end = Date.now();
        this.busy.delete(op.target);
        if (op.ctr) this.busy.delete(`net:${op.ctr.network}`);
      }
      if (op.result.code === 0) this.applied(op);
    }
  }

  private nextOp(round: number, w: number, k: number): Op | undefined {
    const free = <T extends { name: string }>(m: Map<string, T>) => [...m.values()].filter((x) => !this.busy.has(x.name));
    const nets = free(this.nets);
    const ctrs = free(this.ctrs);
    const emptyNets = nets.filter((n) => !this.stuck.has(n.name) && ![...this.ctrs.values()].some((c) => c.network === n.name) && !this.busy.has(`net:${n.name}`));
    const roll = this.random();
    const name = (prefix: string) => `${prefix}-r${round}w${w}k${k}`;
    if (this.nets.size < 2 || (roll < 0.2 && this.nets.size < MAX_NETWORKS)) {
      const net: NetSpec = { name: name('cn'), subnet: this.pick(SUBNETS), ipam: this.random() < 0.4 ? 'tsnet' : 'default' };
      const gateway = net.ipam === 'tsnet' && (this.random() < 0.5 || this.options.explicitGateway) ? ['--gateway', net.subnet.replace(/0\/24$/, '1')] : [];
      const args = ['network', 'create', '-d', 'tsnet', ...(net.ipam === 'tsnet' ? ['--ipam-driver', 'tsnet'] : []), '--subnet', net.subnet, ...gateway, net.name];
      return { kind: 'create-net', args, target: net.name, net, start: Date.now() };
    }
    if (roll < 0.3 && emptyNets.length > 0) {
      const net = this.pick(emptyNets);
      this.nets.delete(net.name);
      return { kind: 'rm-net', args: ['network', 'rm', net.name], target: net.name, net, start: Date.now() };
    }
    if ((roll < 0.75 && this.ctrs.size < MAX_CONTAINERS) || ctrs.length === 0) {
      const usable = nets.filter((n) => !this.busy.has(n.name));
      if (usable.length === 0) return undefined;
      const net = this.pick(usable);
      const ctr: CtrSpec = {
        name: name('cc'), network: net.name,
        hostPort: this.random() < 0.35 ? this.pick(HOST_PORTS) : undefined,
        ip: this.random() < 0.3 ? net.subnet.replace(/0\/24$/, String(10 + Math.floor(this.random() * 4))) : undefined,
      };
      const args = ['run', '-d', '--name', ctr.name, '--network', ctr.network, ...(ctr.hostPort ? ['-p', `${ctr.hostPort}:80`] : []), ...(ctr.ip ? ['--ip', ctr.ip] : []), this.image, ...LISTEN, `hi-${ctr.name}`];
      return { kind: 'run', args, target: ctr.name, ctr, start: Date.now() };
    }
    const ctr = this.pick(ctrs);
    this.ctrs.delete(ctr.name);
    return { kind: 'rm-ctr', args: ['rm', '-f', ctr.name], target: ctr.name, ctr, start: Date.now() };
  }

  private applied(op: Op): void {
    if (op.kind === 'create-net' && op.net) this.nets.set(op.net.name, op.net);
    if (op.kind === 'run' && op.ctr) this.ctrs.set(op.ctr.name, op.ctr);
  }

  /**
   * Retries every failed create and run the way a user would (`docker rm -f` of a container
   * left created, then the same command), unless what refused it still holds: another Docker
   * network has the subnet, a running container has the host port or the address, or the
   * network is gone. A failed `rm -f` is retried too. A failed `network rm` is checked for
   * dockerd's own endpoint miscount.
   */
  private async retryFailed(failed: readonly Op[], before: DockerState): Promise<{ succeeded: Op[]; failed: string[]; skipped: number; legit: number; miscounts: string[] }> {
    const host = this.labNow.host;
    const out = { succeeded: [] as Op[], failed: [] as string[], skipped: 0, legit: 0, miscounts: [] as string[] };
    let docker = before;
    for (const op of failed) {
      // Docker as it is now: an earlier retry may have taken the subnet, port or address.
      if (out.succeeded.length > 0) docker = await observeDocker(host);
      const running = docker.containers.filter((c) => c.running);
      const stderr = dockerError(op.result?.stderr ?? '');
      if (op.kind === 'rm-net') {
        const network = docker.networks.find((n) => n.name === op.target);
        const users = docker.containers.filter((c) => c.networks.some((a) => a.name === op.target));
        if (network && /has active endpoints/.test(stderr) && users.length === 0 && network.endpoints.length === 0) {
          out.miscounts.push(`${op.target} (${shortId(network.id)}): ${stderr}`);
          this.stuck.add(op.target);
        }
        out.legit++;
        continue;
      }
      let why: string | undefined;
      if (op.kind === 'create-net' && op.net) {
        const subnet = op.net.subnet;
        const holder = docker.networks.find((n) => n.subnets.some((s) => s.subnet === subnet));
        if (docker.networks.some((n) => n.name === op.target)) why = 'Docker has the network after all';
        else if (holder) why = `subnet ${subnet} is held by ${holder.name}`;
      } else if (op.kind === 'run' && op.ctr) {
        const ctr = op.ctr;
        const network = docker.networks.find((n) => n.name === ctr.network);
        const port = ctr.hostPort && running.find((c) => c.ports.some((p) => p.hostPort === ctr.hostPort));
        const address = ctr.ip && running.find((c) => c.networks.some((a) => a.name === ctr.network && a.ip === ctr.ip));
        if (!network) why = `network ${ctr.network} is gone`;
        else if (port) why = `host port ${ctr.hostPort} is published by ${port.name}`;
        else if (address) why = `address ${ctr.ip} is held by ${address.name}`;
        else await host.docker(['rm', '-f', ctr.name], { allowFail: true, timeoutMs: 60_000 });
      }
      if (why) {
        out.skipped++;
        out.legit++;
        continue;
      }
      const again = await host.docker(op.args, { allowFail: true, timeoutMs: 150_000 });
      if (again.code === 0) {
        out.succeeded.push(op);
        this.applied(op);
      } else {
        out.failed.push(`${op.args.join(' ').replace(this.image, 'IMAGE')}: first ${stderr}; retry ${again.stderr.trim()}\n${await this.diagnose(again.stderr)}`);
      }
    }
    return out;
  }

  /**
   * What Docker, tsnet's store and tsnet's log say about every id an error names, so that a
   * failure report shows who holds what and why.
   */
  private async diagnose(text: string): Promise<string> {
    const lab = this.labNow;
    const ids = [...new Set(text.match(/\b[0-9a-f]{12}\b/g) ?? [])];
    if (ids.length === 0) return '  (the error names no id)';
    const [docker, store, log] = await Promise.all([observeDocker(lab.host), readStoreFiles(lab.stateDir), lab.log()]);
    const lines: string[] = [];
    for (const id of ids) {
      for (const n of docker.networks.filter((x) => x.id.startsWith(id))) lines.push(`  ${id}: Docker network ${n.name}`);
      for (const n of docker.networks) for (const e of n.endpoints.filter((x) => x.endpointId.startsWith(id))) lines.push(`  ${id}: Docker endpoint of container ${shortId(e.containerId)} on ${n.name}`);
      for (const c of docker.containers.filter((x) => x.id.startsWith(id))) lines.push(`  ${id}: Docker container ${c.name} (${c.running ? 'running' : 'not running'})`);
      for (const n of store.networks.filter((x) => x.id.startsWith(id))) lines.push(`  ${id}: store network ${n.state} created ${n.createdAt}`);
      for (const e of store.endpoints.filter((x) => x.id.startsWith(id))) lines.push(`  ${id}: store endpoint ${JSON.stringify({ state: e.state, address: e.address, joined: Boolean(e.sandboxKey), ports: e.ports.map((p) => p.hostPort), createdAt: e.createdAt })}`);
      for (const m of store.markers.filter((x) => x.networkId.startsWith(id) || x.endpointId?.startsWith(id))) lines.push(`  ${id}: unanswered ${m.method} since ${m.at}`);
      const mentions = parseLog(log).filter((l) => l.component !== 'exec' && JSON.stringify(l).includes(id));
      for (const l of mentions.slice(-12)) lines.push(`  ${id}: log ${new Date(l.time).toISOString().slice(11, 23)} pid ${l.pid} ${l.msg} ${String(l.method ?? '')} ${String(l.outcome ?? '')} ${String(l.why ?? l.reason ?? '')}`.trimEnd());
      if (lines.every((l) => !l.startsWith(`  ${id}`))) lines.push(`  ${id}: neither Docker nor tsnet has it now`);
    }
    return lines.join('\n');
  }

  /** Copies the tsnet and dockerd logs out of the host's directory (which goes with the host). */
  async saveLogs(): Promise<string | undefined> {
    if (!this.host || !this.lab) return undefined;
    const dir = this.options.logDir ?? join('/tmp', `tsnet-crash-logs-${this.seed}-${Date.now()}`);
    await mkdir(dir, { recursive: true });
    await copyFile(this.lab.logFile, join(dir, 'tsnet.log')).catch(() => undefined);
    await copyFile(join(this.host.dir, 'dockerd.log'), join(dir, 'dockerd.log')).catch(() => undefined);
    return dir;
  }

  /** The churn's beliefs, from what Docker has after the round. */
  private refreshModel(docker: DockerState): void {
    const nets = new Map<string, NetSpec>();
    for (const n of docker.networks.filter((x) => x.driver === 'tsnet' && x.name.startsWith('cn-'))) {
      nets.set(n.name, { name: n.name, subnet: n.subnets[0]?.subnet ?? SUBNETS[0] ?? '', ipam: n.ipamDriver === 'tsnet' ? 'tsnet' : 'default' });
    }
    const ctrs = new Map<string, CtrSpec>();
    for (const c of docker.containers.filter((x) => x.running && x.name.startsWith('cc-'))) {
      const network = c.networks[0]?.name ?? '';
      ctrs.set(c.name, { name: c.name, network, hostPort: c.ports[0]?.hostPort });
    }
    this.nets = nets;
    this.ctrs = ctrs;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function seconds(ms: number | undefined): string {
  return ms === undefined ? '—' : `${(ms / 1000).toFixed(1)} s`;
}

export function formatRound(r: RoundReport, of: number): string {
  const counts = FINDING_KINDS.map((k) => `${k} ${r.findings[k].length}`).join(', ');
  return [
    `round ${r.round}/${of}: ${r.workers} workers, ops ${r.ops} (ok ${r.opsOk}, failed ${r.opsFailed}, refused for a reason that still holds ${r.refusedLegitimately})`,
    ...r.failures.map((f) => `    failed: ${f}`),
    `  kill at ${seconds(r.killAtMs)} with ${r.inFlightAtKill.length} op(s) in flight [${r.inFlightAtKill.join(', ')}], tsnet back after ${seconds(r.restartMs)}`,
    `  retries ok ${r.retriesOk}, skipped ${r.retriesSkipped}, failed ${r.retriesFailed.length}; tsnet removed ${r.tsnetRemoved.networks} network(s), ${r.tsnetRemoved.endpoints} endpoint(s) Docker lacked${r.dockerMiscounts.length ? `; dockerd endpoint miscount: ${r.dockerMiscounts.join('; ')}` : ''}`,
    `  converged in ${seconds(r.convergeMs)}${r.convergedFrom ? ` (from ${r.convergedFrom})` : ''}; ${counts}, unreachable ${r.unreachable.length}; now ${r.networks} tsnet network(s), ${r.containers} running container(s)${r.failure ? ' — FAILED' : ''}`,
  ].join('\n');
}

export function totalsOf(rounds: readonly RoundReport[]): CampaignTotals {
  const times = rounds.map((r) => r.convergeMs).filter((ms): ms is number => ms !== undefined).sort((a, b) => a - b);
  const sum = (f: (r: RoundReport) => number) => rounds.reduce((n, r) => n + f(r), 0);
  return {
    rounds: rounds.length,
    kills: rounds.length,
    ops: sum((r) => r.ops),
    failedOps: sum((r) => r.opsFailed),
    refusedLegitimately: sum((r) => r.refusedLegitimately),
    retriesOk: sum((r) => r.retriesOk),
    retriesSkipped: sum((r) => r.retriesSkipped),
    retriesFailed: sum((r) => r.retriesFailed.length),
    dockerMiscounts: sum((r) => r.dockerMiscounts.length),
    convergeMaxMs: times.at(-1) ?? 0,
    convergeMedianMs: times.length ? (times[Math.floor((times.length - 1) / 2)] as number) : 0,
    leaks: sum((r) => FINDING_KINDS.reduce((n, k) => n + r.findings[k].length, 0) + r.unreachable.length),
    failedRounds: sum((r) => (r.failure ? 1 : 0)),
  };
}

export function formatTotals(t: CampaignTotals, seed: number, elapsedMs: number): string {
  return [
    `crash campaign totals (seed ${seed}, ${seconds(elapsedMs)}):`,
    `  rounds ${t.rounds}, kills ${t.kills}, ops ${t.ops}, failed ops ${t.failedOps} (refused for a reason that still holds ${t.refusedLegitimately})`,
    `  retries ok ${t.retriesOk}, skipped ${t.retriesSkipped}, failed ${t.retriesFailed}; dockerd endpoint miscounts ${t.dockerMiscounts}`,
    `  convergence max ${seconds(t.convergeMaxMs)}, median ${seconds(t.convergeMedianMs)}`,
    `  leaks found ${t.leaks} (must be 0); failed rounds ${t.failedRounds}`,
  ].join('\n');
}

/**
 * The line of a docker client's stderr that says what went wrong. The 20.10 client ends with the
 * daemon's error; the 28.x client adds a blank line and "Run 'docker run --help' for more
 * information" after it, so the last line alone would hide the error on 28.5.
 */
export function dockerError(stderr: string): string {
  const lines = stderr.trim().split('\n').map((l) => l.trim()).filter((l) => l && !/^(Run 'docker .*--help' for more information|See 'docker .*--help'\.)$/.test(l));
  return lines.at(-1) ?? '';
}
