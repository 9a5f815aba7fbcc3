import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestEtcd } from '../support/etcd.js';
import { createNetns, deleteNetns, testNetnsName } from '../support/netns.js';
import { startTsnet, type TsnetDaemon } from '../support/tsnet-daemon.js';
import { keepAliveClient } from './keepalive-client.js';
import { fmt, median, percentile } from './stats.js';

/**
 * `npm run bench:ipam`: every address of a /16 in the local space and of a /20 in the global
 * space (etcd on loopback in the same namespace), allocated and released through the daemon's
 * socket exactly as Docker calls it, CONCURRENCY calls in flight. Prints rates and latencies;
 * asserts nothing.
 */
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);

interface Sample { readonly done: number; readonly ms: number }

const clients = new Map<string, ReturnType<typeof keepAliveClient>>();
function call(d: TsnetDaemon, method: string, body: unknown): Promise<Record<string, unknown>> {
  let client = clients.get(d.socketPath);
  if (!client) clients.set(d.socketPath, (client = keepAliveClient(d.socketPath, CONCURRENCY)));
  return client.post(method, body);
}

async function run(count: number, work: (i: number) => Promise<unknown>): Promise<{ samples: Sample[]; seconds: number }> {
  const samples: Sample[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    for (let i = next++; i < count; i = next++) {
      const t = performance.now();
      await work(i);
      samples.push({ done: performance.now() - started, ms: performance.now() - t });
    }
  }));
  return { samples, seconds: (performance.now() - started) / 1000 };
}

/** Rate around a fill level: allocations completed between (level ± 2.5%) of the pool. */
function rateAt(samples: readonly Sample[], level: number): number {
  const sorted = [...samples].sort((a, b) => a.done - b.done);
  const from = Math.floor(sorted.length * (level - 0.025));
  const to = Math.min(sorted.length - 1, Math.floor(sorted.length * (level + 0.025)));
  const span = ((sorted[to]?.done ?? 0) - (sorted[from]?.done ?? 0)) / 1000;
  return span > 0 ? (to - from) / span : Number.NaN;
}

async function bench(d: TsnetDaemon, label: string, subnet: string, options: Record<string, string>): Promise<void> {
  const { PoolID: poolId } = await call(d, 'IpamDriver.RequestPool', { AddressSpace: 'tsnet-local', Pool: subnet, SubPool: '', Options: options, V6: false });
  const prefix = Number(subnet.split('/')[1]);
  const total = 2 ** (32 - prefix) - 2;
  const addresses: string[] = [];
  const alloc = await run(total, async () => addresses.push(String((await call(d, 'IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: null })).Address).split('/')[0] as string));
  const release = await run(addresses.length, (i) => call(d, 'IpamDriver.ReleaseAddress', { PoolID: poolId, Address: addresses[i] }));
  await call(d, 'IpamDriver.ReleasePool', { PoolID: poolId });
  const lat = alloc.samples.map((s) => s.ms);
  console.log(`\n${label}: ${subnet}, ${total} addresses, ${CONCURRENCY} calls in flight`);
  console.log(`  allocate: ${(total / alloc.seconds).toFixed(0)} /s overall; at 10% full ${rateAt(alloc.samples, 0.1).toFixed(0)} /s, 50% ${rateAt(alloc.samples, 0.5).toFixed(0)} /s, 95% ${rateAt(alloc.samples, 0.95).toFixed(0)} /s`);
  console.log(`            latency p50 ${fmt(median(lat))} ms, p99 ${fmt(percentile(lat, 99))} ms`);
  const rel = release.samples.map((s) => s.ms);
  console.log(`  release:  ${(addresses.length / release.seconds).toFixed(0)} /s; latency p50 ${fmt(median(rel))} ms, p99 ${fmt(percentile(rel, 99))} ms`);
  console.log(`  distinct addresses handed out: ${new Set(addresses).size} of ${addresses.length}`);
}

async function main(): Promise<void> {
  const netns = testNetnsName('ipb');
  const dir = await mkdtemp(join(tmpdir(), 'tsnet-ipam-bench-'));
  await mkdir(join(dir, 'plugins'));
  await createNetns(netns);
  const place = { netnsPath: `/run/netns/${netns}`, pluginsDir: join(dir, 'plugins'), dir };
  const etcd = await startTestEtcd({ netnsPath: place.netnsPath });
  let daemon: TsnetDaemon | undefined;
  try {
    daemon = await startTsnet(place, { extraArgs: ['--log-level', 'warn', '--etcd-endpoints', etcd.endpoint] });
    await bench(daemon, 'local address space (embedded store)', '10.234.0.0/16', {});
    await bench(daemon, 'global address space (etcd on loopback)', '10.235.0.0/20', { 'tsnet.scope': 'global' });
  } finally {
    for (const c of clients.values()) c.close();
    await daemon?.process.stop(10_000);
    await etcd.destroy();
    await deleteNetns(netns);
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
