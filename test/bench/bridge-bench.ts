import { join } from 'node:path';
import { request } from 'node:http';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ensureTestImage } from '../support/image.js';
import { DOCKER_VERSION, startSimulatedHost, type SimulatedHost } from '../support/sim-host.js';
import { startTsnet, type TsnetDaemon } from '../support/tsnet-daemon.js';
import { fmt, median, percentile, ratioInterval } from './stats.js';

/**
 * `npm run bench:bridge`: container start-up on a tsnet bridge network next to Docker's built-in
 * bridge driver (and a tsnet macvlan network next to Docker's macvlan), on each dockerd of the test matrix (20.10 and 28.5, one after the other, each
 * with its own simulated host). On each dockerd the runs are interleaved, so that machine noise
 * hits both drivers alike, and the ratio is taken within that run. Then the daemon's own
 * handling time per call from its log (total minus the time spent in kernel programs).
 * Prints figures; asserts nothing. `TSNET_E2E_DOCKER=20.10|28.5` measures one dockerd only.
 */
const RUNS = Number(process.env.BENCH_RUNS ?? 40);
const WARMUP = 3;
const VERSIONS = ['20.10', '28.5'] as const;
const RESULT_TAG = 'BENCH_RESULT ';

interface Case {
  readonly label: string;
  readonly network: string;
  /** Extra `docker run` arguments. */
  readonly args: readonly string[];
}

/** A published port on loopback with a host port the driver picks: the usual `-p` of a web container. */
const PUBLISH = ['-p', '127.0.0.1::8080'];
const CASES: readonly Case[] = [
  { label: 'tsnet bridge', network: 'bench-tsnet', args: [] },
  { label: "Docker's bridge", network: 'bench-builtin', args: [] },
  { label: 'tsnet bridge, -p', network: 'bench-tsnet', args: PUBLISH },
  { label: "Docker's bridge, -p", network: 'bench-builtin', args: PUBLISH },
  { label: 'tsnet macvlan', network: 'bench-tsnet-mv', args: [] },
  { label: "Docker's macvlan", network: 'bench-builtin-mv', args: [] },
  { label: '--network none (baseline)', network: 'none', args: [] },
];

interface Interval {
  readonly low: number;
  readonly high: number;
}

interface Result {
  readonly docker: string;
  readonly run: number;
  readonly publish: number;
  readonly macvlan: number;
  readonly intervals: { readonly run: Interval; readonly publish: Interval; readonly macvlan: Interval };
}

async function timeRun(host: SimulatedHost, image: string, c: Case): Promise<number> {
  const started = performance.now();
  await host.docker(['run', '--rm', '--network', c.network, ...c.args, image, 'true']);
  return performance.now() - started;
}

async function measureOneDockerd(): Promise<void> {
  const host = await startSimulatedHost('bench');
  let tsnet: TsnetDaemon | undefined;
  try {
    tsnet = await startTsnet(host, { extraArgs: ['--log-level', 'info', '--kernel-timing'] });
    const image = await ensureTestImage(host);
    await host.docker(['network', 'create', '-d', 'tsnet', '--subnet', '10.240.0.0/16', 'bench-tsnet']);
    await host.docker(['network', 'create', '-d', 'bridge', '--subnet', '10.241.0.0/16', 'bench-builtin']);
    // Both macvlan networks hang off the simulated host's uplink (each driver allows one network per parent).
    await host.docker(['network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=macvlan', '-o', 'parent=uplink0', '--subnet', '10.242.0.0/16', 'bench-tsnet-mv']);
    await host.docker(['network', 'create', '-d', 'macvlan', '-o', 'parent=uplink0', '--subnet', '10.243.0.0/16', 'bench-builtin-mv']);
    const samples = CASES.map(() => [] as number[]);
    // As an operator's Prometheus would: the admin API is scraped every second throughout, so the
    // handling times below include whatever the metrics and views cost the plugin.
    const scraper = scrapeEverySecond(join(tsnet.stateDir, 'admin.sock'));
    for (let i = 0; i < WARMUP; i++) for (const c of CASES) await timeRun(host, image, c);
    for (let i = 0; i < RUNS; i++) {
      // Rotate the order each round so that no case always runs first.
      const order = CASES.map((_, k) => (k + i) % CASES.length);
      for (const k of order) samples[k]?.push(await timeRun(host, image, CASES[k] as Case));
    }
    const scrapes = scraper.stop();
    const med = samples.map((s) => median(s));
    console.log(`\ndockerd ${DOCKER_VERSION}: docker run --rm --network N [-p] ${image} true  (${RUNS} interleaved runs each, after ${WARMUP} warm-up)`);
    CASES.forEach((c, k) => console.log(`${c.label.padEnd(28)} median ${fmt(med[k] as number).padStart(6)} ms   p90 ${fmt(percentile(samples[k] as number[], 90)).padStart(6)} ms   n=${samples[k]?.length}`));
    const [tsnetRun, builtinRun, tsnetPub, builtinPub, tsnetMv, builtinMv, none] = med as [number, number, number, number, number, number, number];
    const interval = (k: number) => ratioInterval(samples[k] as number[], samples[k + 1] as number[]);
    const result: Result = { docker: DOCKER_VERSION, run: tsnetRun / builtinRun, publish: tsnetPub / builtinPub, macvlan: tsnetMv / builtinMv, intervals: { run: interval(0), publish: interval(2), macvlan: interval(4) } };
    const show = (ratio: number, i: { low: number; high: number }) => `${ratio.toFixed(3)} (90% ${i.low.toFixed(3)}–${i.high.toFixed(3)})`;
    console.log(`ratio tsnet / Docker's driver (medians): bridge ${show(result.run, result.intervals.run)}, bridge with -p ${show(result.publish, result.intervals.publish)}, macvlan ${show(result.macvlan, result.intervals.macvlan)}   (target <= 1.00)`);
    console.log('  (the interval: bootstrap over the rounds, each round measuring both drivers side by side; it shows how much of a difference is noise)');
    console.log(`network cost over none (medians): tsnet ${fmt(tsnetRun - none)} ms, Docker's bridge ${fmt(builtinRun - none)} ms`);
    console.log(`admin API scraped ${scrapes.ok} times during the runs (GET /metrics every second; ${scrapes.failed} failed)`);
    await printHandlingTimes(tsnet);
    await printStartupTime(host, tsnet);
    console.log(`${RESULT_TAG}${JSON.stringify(result)}`);
  } finally {
    await tsnet?.process.stop(10_000);
    await host.stop();
  }
}

/** GETs /metrics on the admin socket every second until stopped (as Prometheus would); counts the answers. */
function scrapeEverySecond(socketPath: string): { stop(): { ok: number; failed: number } } {
  const counts = { ok: 0, failed: 0 };
  const get = (path: string) => new Promise<void>((resolve) => {
    const req = request({ socketPath, path, headers: { host: 'tsnet' } }, (res) => {
      res.resume();
      res.on('end', () => { if (res.statusCode === 200) counts.ok++; else counts.failed++; resolve(); });
    });
    req.on('error', () => { counts.failed++; resolve(); });
    req.end();
  });
  const timer = setInterval(() => void get('/metrics'), 1_000);
  return { stop: () => { clearInterval(timer); return counts; } };
}

/** Restarts the daemon (with a network and its state in place) and times socket and readiness. */
async function printStartupTime(host: SimulatedHost, tsnet: TsnetDaemon): Promise<void> {
  await tsnet.process.stop(10_000);
  const started = performance.now();
  let listening = Number.NaN;
  const watcher = setInterval(() => {
    if (Number.isNaN(listening) && existsSync(tsnet.socketPath)) listening = performance.now() - started;
  }, 2);
  const restarted = await startTsnet(host, { extraArgs: ['--log-level', 'info', '--kernel-timing'] });
  const ready = performance.now() - started;
  clearInterval(watcher);
  console.log(`\ndaemon restart: socket listening after ${fmt(listening)} ms, Plugin.Activate answered after ${fmt(ready)} ms (includes node start-up, store open and reconciliation)`);
  await restarted.process.stop(10_000);
}

async function printHandlingTimes(tsnet: TsnetDaemon): Promise<void> {
  const calls = (await tsnet.process.log()).split('\n').filter((l) => l.includes('"msg":"call"')).map((l) => JSON.parse(l) as { method: string; ms: number; kernelMs?: number; outcome: string });
  const byMethod = new Map<string, Array<{ total: number; own: number }>>();
  for (const c of calls.filter((c) => c.outcome === 'ok')) {
    const list = byMethod.get(c.method) ?? [];
    list.push({ total: c.ms, own: c.ms - (c.kernelMs ?? 0) });
    byMethod.set(c.method, list);
  }
  console.log('\ntsnet handling time per call, from its log (own = total minus time in kernel programs):');
  const all: number[] = [];
  const allTotal: number[] = [];
  for (const [method, list] of [...byMethod.entries()].sort()) {
    const own = list.map((x) => x.own);
    all.push(...own);
    allTotal.push(...list.map((x) => x.total));
    console.log(`  ${method.padEnd(44)} n=${String(list.length).padStart(4)}  total p50 ${fmt(median(list.map((x) => x.total))).padStart(6)} ms  own p50 ${fmt(median(own)).padStart(5)} ms  own p99 ${fmt(percentile(own, 99)).padStart(6)} ms`);
  }
  console.log(`  all calls: total p50 ${fmt(median(allTotal))} ms, own p50 ${fmt(median(all))} ms, own p99 ${fmt(percentile(all, 99))} ms   (target: handling p50 < 1 ms with a scrape every second)`);
}

/** Runs this file once per dockerd version, passing its output through, then sums up. */
async function measureEveryDockerd(): Promise<void> {
  const results: Result[] = [];
  for (const docker of VERSIONS) {
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], { env: { ...process.env, TSNET_E2E_DOCKER: docker }, stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        process.stdout.write(chunk);
      });
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`bench on dockerd ${docker} exited with ${code}`))));
    });
    const line = output.split('\n').find((l) => l.startsWith(RESULT_TAG));
    if (line) results.push(JSON.parse(line.slice(RESULT_TAG.length)) as Result);
  }
  console.log("\nsummary: tsnet / Docker's own driver, ratio of median `docker run --rm` times (target <= 1.00)");
  const show = (ratio: number, i: Interval) => `${ratio.toFixed(3)} [${i.low.toFixed(3)}–${i.high.toFixed(3)}]`;
  for (const r of results) console.log(`  dockerd ${r.docker.padEnd(6)} bridge ${show(r.run, r.intervals.run)}   bridge -p ${show(r.publish, r.intervals.publish)}   macvlan ${show(r.macvlan, r.intervals.macvlan)}`);
  console.log('  [90% bootstrap interval over the interleaved rounds]');
}

(process.env.TSNET_E2E_DOCKER ? measureOneDockerd() : measureEveryDockerd()).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
