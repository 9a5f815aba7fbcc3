import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { postPlugin } from '../../plugin-spec/conformance/client.js';
import { startTestEtcd, type TestEtcd } from '../support/etcd.js';
import { run, waitFor } from '../support/exec.js';
import { createNetns, deleteNetns, inNetns, netnsExists, testNetnsName } from '../support/netns.js';
import { REPO, startTsnet, type DaemonPlace, type TsnetDaemon } from '../support/tsnet-daemon.js';

/**
 * Two tsnet daemons ("hosts" with their own state and host id) on one etcd, driven directly
 * over their sockets: the global address space must never hand out an address twice.
 */
let place: DaemonPlace;
let netns: string;
let etcd: TestEtcd;
const daemons: TsnetDaemon[] = [];
const SUBNET = '10.233.0.0/20';

beforeAll(async () => {
  netns = testNetnsName('hosts');
  const dir = await mkdtemp(join(tmpdir(), 'tsnet-hosts-'));
  place = { netnsPath: `/run/netns/${netns}`, pluginsDir: join(dir, 'plugins'), dir };
  await mkdir(place.pluginsDir);
  await createNetns(netns);
  etcd = await startTestEtcd({ netnsPath: place.netnsPath });
  for (const id of ['host-a', 'host-b']) {
    daemons.push(await startTsnet(place, { name: id, stateDir: join(dir, `state-${id}`), extraArgs: ['--host-id', id, '--etcd-endpoints', etcd.endpoint] }));
  }
}, 120_000);

afterAll(async () => {
  // Every step runs; then whatever is left fails the run, named.
  const left: string[] = [];
  for (const d of daemons) await d.process.stop(10_000);
  left.push(...daemons.filter((d) => d.process.isRunning()).map((d) => `tsnet ${d.process.pid}`));
  await etcd?.destroy().catch((err: unknown) => left.push(`etcd: ${String(err)}`));
  if (netns) await deleteNetns(netns);
  if (netns && netnsExists(netns)) left.push(`netns ${netns}`);
  if (place) await rm(place.dir, { recursive: true, force: true }).catch((err: unknown) => left.push(`${place.dir}: ${String(err)}`));
  if (left.length > 0) throw new Error(`teardown left: ${left.join(', ')}`);
});

const call = async (d: TsnetDaemon, method: string, body: unknown) => {
  const reply = await postPlugin(d.socketPath, method, JSON.stringify(body));
  if (reply.status !== 200 || reply.json?.Error || reply.json?.Err) throw new Error(`${method}: ${reply.text}`);
  return reply.json ?? {};
};
const etcdKeys = async (prefix: string) => (await inNetns(netns, ['etcdctl', '--endpoints', etcd.endpoint, 'get', '--prefix', '--keys-only', prefix])).stdout.split('\n').filter(Boolean);
const requestPool = (d: TsnetDaemon) => call(d, 'IpamDriver.RequestPool', { AddressSpace: 'tsnet-local', Pool: SUBNET, SubPool: '', Options: { 'tsnet.scope': 'global' }, V6: false });

async function allocate(d: TsnetDaemon, poolId: string, count: number, concurrency: number): Promise<string[]> {
  const out: string[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next++ < count) out.push(String((await call(d, 'IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: null })).Address));
  }));
  return out;
}

/** Runs `work` over `items` with at most `concurrency` calls in flight. */
async function inParallel<T>(items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let i = next++; i < items.length; i = next++) await work(items[i] as T, i);
  }));
}

describe('global address space shared by two hosts', () => {
  test('2,000 addresses allocated in parallel from both hosts: no duplicates; all released leaves no allocation', async () => {
    const [a, b] = daemons as [TsnetDaemon, TsnetDaemon];
    const poolId = String((await requestPool(a)).PoolID);
    expect(String((await requestPool(b)).PoolID)).toBe(poolId);
    const [fromA, fromB] = await Promise.all([allocate(a, poolId, 1000, 16), allocate(b, poolId, 1000, 16)]);
    const all = [...fromA, ...fromB];
    expect(all).toHaveLength(2000);
    expect(new Set(all).size).toBe(2000);
    expect(await etcdKeys('tsnet/ipam/v1/tsnet-global/addr/')).toHaveLength(2000);
    // Released from both hosts at once, 16 calls in flight per host as for the allocation (all
    // 2,000 at once overran the 3 s etcd deadline on this loaded machine; Docker never does that).
    await inParallel(all, 32, (cidr, i) => call(i % 2 ? a : b, 'IpamDriver.ReleaseAddress', { PoolID: poolId, Address: cidr.split('/')[0] }));
    expect(await etcdKeys('tsnet/ipam/v1/tsnet-global/addr/')).toEqual([]);
    await call(a, 'IpamDriver.ReleasePool', { PoolID: poolId });
    await call(b, 'IpamDriver.ReleasePool', { PoolID: poolId });
    expect(await etcdKeys('tsnet/ipam/v1/tsnet-global/pools/')).toEqual([]);
  }, 180_000);

  test('release-host frees what a dead host held, and refuses while it is alive', async () => {
    const [a, b] = daemons as [TsnetDaemon, TsnetDaemon];
    const poolId = String((await requestPool(a)).PoolID);
    await requestPool(b);
    const held = await allocate(b, poolId, 10, 2);
    const kept = await allocate(a, poolId, 5, 1);
    const releaseHost = () => run(['nsenter', `--net=${place.netnsPath}`, process.execPath, join(REPO, 'dist/src/cli.js'), 'ipam', 'release-host', 'host-b', '--etcd-endpoints', etcd.endpoint], { allowFail: true });
    const refused = await releaseHost();
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/host host-b is alive in etcd/);
    await b.process.kill9();
    // Its lease (10 s) must run out before etcd considers it gone; until then it is refused.
    const released = await waitFor(async () => {
      const r = await releaseHost();
      if (r.code !== 0 && !/host host-b is alive in etcd/.test(r.stderr)) throw new Error(`release-host failed otherwise: ${r.stderr}`);
      return r.code === 0 && r;
    }, 'release-host to succeed once host-b\'s lease has run out', 30_000, 1_000);
    expect(released.stdout).toMatch(/released host host-b: 10 addresses, 1 pool references, 0 pools removed/);
    const left = (await etcdKeys('tsnet/ipam/v1/tsnet-global/addr/')).map((k) => k.split('/').pop());
    expect(left.sort()).toEqual(kept.map((c) => c.split('/')[0]).sort());
    expect(held.some((c) => left.includes(c.split('/')[0]))).toBe(false);
  }, 120_000);
});
