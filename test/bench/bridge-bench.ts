import { existsSync } from 'node:fs';
import { ensureTestImage } from '../support/image.js';
import { startSimulatedHost, type SimulatedHost } from '../support/sim-host.js';
import { startTsnet, type TsnetDaemon } from '../support/tsnet-daemon.js';
import { fmt, median, percentile } from './stats.js';

/**
 * `npm run bench`: container start-up on a tsnet bridge network next to Docker's built-in
 * bridge driver, in the same run on the same dockerd, interleaved so that machine noise hits
 * both alike; then the daemon's own handling time per call from its log (total minus the time
 * spent in kernel programs). Prints figures; asserts nothing.
 */
const RUNS = Number(process.env.BENCH_RUNS ?? 40);
const WARMUP = 3;

async function timeRun(host: SimulatedHost, image: string, network: string): Promise<number> {
  const started = performance.now();
  await host.docker(['run', '--rm', '--network', network, image, 'true']);
  return performance.now() - started;
}

async function main(): Promise<void> {
  const host = await startSimulatedHost('bench');
  let tsnet: TsnetDaemon | undefined;
  try {
    tsnet = await startTsnet(host, { extraArgs: ['--log-level', 'info', '--kernel-timing'] });
    const image = await ensureTestImage(host);
    await host.docker(['network', 'create', '-d', 'tsnet', '--subnet', '10.240.0.0/16', 'bench-tsnet']);
    await host.docker(['network', 'create', '-d', 'bridge', '--subnet', '10.241.0.0/16', 'bench-builtin']);
    const networks = ['bench-tsnet', 'bench-builtin', 'none'] as const;
    const samples: Record<string, number[]> = { 'bench-tsnet': [], 'bench-builtin': [], none: [] };
    for (let i = 0; i < WARMUP; i++) for (const n of networks) await timeRun(host, image, n);
    for (let i = 0; i < RUNS; i++) {
      // Rotate the order each round so neither driver always runs first.
      const order = i % 2 === 0 ? networks : ([...networks].reverse() as typeof networks[number][]);
      for (const n of order) samples[n]?.push(await timeRun(host, image, n));
    }
    const row = (label: string, values: number[]) => `${label.padEnd(28)} median ${fmt(median(values)).padStart(6)} ms   p90 ${fmt(percentile(values, 90)).padStart(6)} ms   n=${values.length}`;
    const tsnetRuns = samples['bench-tsnet'] ?? [];
    const builtinRuns = samples['bench-builtin'] ?? [];
    const noneRuns = samples.none ?? [];
    console.log(`\ndocker run --rm --network N ${image} true  (${RUNS} interleaved runs each, after ${WARMUP} warm-up)`);
    console.log(row('tsnet bridge', tsnetRuns));
    console.log(row('docker built-in bridge', builtinRuns));
    console.log(row('--network none (baseline)', noneRuns));
    console.log(`ratio tsnet / built-in (medians): ${(median(tsnetRuns) / median(builtinRuns)).toFixed(3)}   (target <= 1.10)`);
    console.log(`network cost over none (medians): tsnet ${fmt(median(tsnetRuns) - median(noneRuns))} ms, built-in ${fmt(median(builtinRuns) - median(noneRuns))} ms`);
    await printHandlingTimes(tsnet);
    await printStartupTime(host, tsnet);
  } finally {
    await tsnet?.process.stop(10_000);
    await host.stop();
  }
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
  for (const [method, list] of [...byMethod.entries()].sort()) {
    const own = list.map((x) => x.own);
    all.push(...own);
    console.log(`  ${method.padEnd(44)} n=${String(list.length).padStart(4)}  total p50 ${fmt(median(list.map((x) => x.total))).padStart(6)} ms  own p50 ${fmt(median(own)).padStart(5)} ms  own p99 ${fmt(percentile(own, 99)).padStart(6)} ms`);
  }
  console.log(`  all calls: own p50 ${fmt(median(all))} ms, p99 ${fmt(percentile(all, 99))} ms   (target p50 < 2 ms)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
