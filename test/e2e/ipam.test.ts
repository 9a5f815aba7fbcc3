import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestEtcd, type TestEtcd } from '../support/etcd.js';
import { waitFor } from '../support/exec.js';
import { ensureTestImage } from '../support/image.js';
import { startSimulatedHost, stopAllSimulatedHosts, type SimulatedHost } from '../support/sim-host.js';
import { startTsnet, type TsnetDaemon } from '../support/tsnet-daemon.js';

let host: SimulatedHost;
let etcd: TestEtcd;
let tsnet: TsnetDaemon;
let image: string;
const tsnetArgs = () => ['--etcd-endpoints', etcd.endpoint, '--etcd-timeout-ms', '1500', '--host-id', 'host-a'];

beforeAll(async () => {
  host = await startSimulatedHost('ipam');
  etcd = await startTestEtcd({ netnsPath: host.netnsPath });
  tsnet = await startTsnet(host, { extraArgs: tsnetArgs() });
  image = await ensureTestImage(host);
}, 180_000);

afterAll(async () => {
  // Containers first: a dockerd whose plugin is already gone retries it for ~30 s per call.
  // Then tsnet and etcd (which run in the host's namespace), then the host. Every step runs;
  // what failed is thrown at the end.
  const problems: unknown[] = [];
  if (host) {
    const ids = (await host.docker(['ps', '-aq'], { allowFail: true, timeoutMs: 30_000 }).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await host.docker(['rm', '-f', ...ids], { allowFail: true, timeoutMs: 60_000 }).catch(() => undefined);
  }
  const code = await tsnet?.process.stop(10_000);
  if (code !== undefined && code !== 0) problems.push(`tsnet exited with code ${code} on SIGTERM`);
  await etcd?.destroy().catch((err: unknown) => problems.push(err));
  await stopAllSimulatedHosts().catch((err: unknown) => problems.push(err));
  if (problems.length > 0) throw new Error(problems.map((p) => (p instanceof Error ? p.message : String(p))).join('\n'));
});

const docker = (...args: string[]) => host.docker(args);
const tryDocker = (...args: string[]) => host.docker(args, { allowFail: true });
const ipOf = async (container: string, network: string) => (await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container)).stdout.trim();
/** `from` gets an echo reply from `target` within the bound (a lost packet is retried, no answer fails). */
const reaches = (from: string, target: string, timeoutMs = 10_000) =>
  waitFor(async () => (await tryDocker('exec', from, 'ping', '-c', '1', '-W', '2', target)).code === 0, `${from} to reach ${target}`, timeoutMs, 200);
/** tsnet's host-side veth ends (`tsnv-…`) and container-side ends still on the host (`tsnp-…`). */
const tsnetVeths = async () => {
  const names = (await host.exec(['ip', '-o', 'link', 'show'])).stdout.split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '');
  return { host: names.filter((n) => n.startsWith('tsnv-')), peer: names.filter((n) => n.startsWith('tsnp-')) };
};

describe('the tsnet IPAM through a real dockerd', () => {
  test('tsnet driver + tsnet IPAM: gateway, aux address, ip-range and --ip as asked', async () => {
    await docker('network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.232.1.0/24', '--gateway', '10.232.1.254', '--ip-range', '10.232.1.64/26', '--aux-address', 'printer=10.232.1.65', 'i1');
    const inspect = JSON.parse((await docker('network', 'inspect', 'i1')).stdout)[0];
    expect(inspect.IPAM.Driver).toBe('tsnet');
    await docker('run', '-d', '--name', 'p1', '--network', 'i1', image, 'sleep', '600');
    await docker('run', '-d', '--name', 'p2', '--network', 'i1', image, 'sleep', '600');
    await docker('run', '-d', '--name', 'p3', '--network', 'i1', '--ip', '10.232.1.10', image, 'sleep', '600');
    // Serial from the start of the ip-range, skipping the aux address.
    expect([await ipOf('p1', 'i1'), await ipOf('p2', 'i1'), await ipOf('p3', 'i1')]).toEqual(['10.232.1.64', '10.232.1.66', '10.232.1.10']);
    expect((await docker('exec', 'p1', 'ip', 'route')).stdout).toContain('default via 10.232.1.254');
    await reaches('p1', 'p3');
    const taken = await tryDocker('run', '-d', '--name', 'p4', '--network', 'i1', '--ip', '10.232.1.10', image, 'sleep', '600');
    expect(taken.code).not.toBe(0);
    expect(taken.stderr).toMatch(/address 10.232.1.10 is already in use in pool 10.232.1.0\/24 \(held by host host-a/);
    await tryDocker('rm', '-f', 'p4');
  });

  test("Docker's own bridge driver with the tsnet IPAM", async () => {
    await docker('network', 'create', '-d', 'bridge', '--ipam-driver', 'tsnet', '--subnet', '10.232.2.0/24', 'i2');
    await docker('run', '-d', '--name', 'q1', '--network', 'i2', image, 'sleep', '600');
    expect(await ipOf('q1', 'i2')).toBe('10.232.2.2');
    const overlap = await tryDocker('network', 'create', '-d', 'bridge', '--ipam-driver', 'tsnet', '--subnet', '10.232.2.128/25', 'i2b');
    expect(overlap.code).not.toBe(0);
    expect(overlap.stderr).toMatch(/pool 10.232.2.128\/25 overlaps pool 10.232.2.0\/24 already in address space tsnet-local/);
  });

  test('a pool chosen by tsnet when the user names none', async () => {
    await docker('network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', 'i3');
    const subnet = JSON.parse((await docker('network', 'inspect', 'i3')).stdout)[0].IPAM.Config[0].Subnet;
    expect(subnet).toMatch(/^10\.22[4-9]\.\d+\.0\/24$/);
    await docker('network', 'rm', 'i3');
  });

  test('allocations survive restarts of the plugin and of dockerd: addresses kept, traffic flows, nothing left over', async () => {
    const before = { p1: await ipOf('p1', 'i1'), p2: await ipOf('p2', 'i1'), p3: await ipOf('p3', 'i1') };
    await tsnet.process.kill9();
    tsnet = await startTsnet(host, { extraArgs: tsnetArgs() });
    // The plugin restart changed nothing for running containers...
    expect({ p1: await ipOf('p1', 'i1'), p2: await ipOf('p2', 'i1'), p3: await ipOf('p3', 'i1') }).toEqual(before);
    await reaches('p1', 'p3');
    // ...and the restarted plugin still knows which addresses are taken.
    await waitFor(async () => {
      const started = await tryDocker('run', '-d', '--name', 'p5', '--network', 'i1', image, 'sleep', '600');
      if (started.code !== 0) await tryDocker('rm', '-f', 'p5');
      return started.code === 0;
    }, 'p5 to start after the plugin restart', 30_000, 500);
    expect(await ipOf('p5', 'i1')).toBe('10.232.1.67');

    await host.restartDockerd();
    // dockerd stopped the containers, so Docker released their endpoints and addresses.
    expect(await tsnetVeths()).toEqual({ host: [], peer: [] });
    await waitFor(async () => (await tryDocker('start', 'p1', 'p2', 'p3', 'p5')).code === 0, 'the containers to start again after the dockerd restart', 60_000, 1_000);
    const ips = await Promise.all(['p1', 'p2', 'p3', 'p5'].map((c) => ipOf(c, 'i1')));
    expect(new Set(ips).size).toBe(4);
    for (const ip of ips) expect(ip).toMatch(/^10\.232\.1\.\d+$/);
    // An address the user asked for is asked for again, and granted again.
    expect(ips[2]).toBe('10.232.1.10');
    await reaches('p1', 'p3');
    await reaches('p5', ips[0] ?? 'p1');
    expect((await docker('exec', 'p1', 'ip', 'route')).stdout).toContain('default via 10.232.1.254');
    await docker('run', '-d', '--name', 'p6', '--network', 'i1', image, 'sleep', '600');
    expect(ips).not.toContain(await ipOf('p6', 'i1'));
    // One host-side veth per running tsnet endpoint, and no container end left on the host.
    const veths = await tsnetVeths();
    expect(veths.host).toHaveLength(5);
    expect(veths.peer).toEqual([]);
  });

  test('docker network rm releases the pool', async () => {
    await docker('rm', '-f', 'p1', 'p2', 'p3', 'p5', 'p6', 'q1');
    // Positive control: while i1 holds its pool, the same subnet with another ip-range is refused...
    const whileHeld = await tryDocker('network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.232.1.0/24', '--ip-range', '10.232.1.0/25', 'i1again');
    expect(whileHeld.code).not.toBe(0);
    await docker('network', 'rm', 'i1', 'i2');
    // ...and accepted once the old pool is gone.
    await docker('network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.232.1.0/24', '--ip-range', '10.232.1.0/25', 'i1again');
    await docker('network', 'rm', 'i1again');
  });

  test('a global pool in etcd; with etcd down local networks work, global calls fail clearly, and recover', async () => {
    await docker('network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--ipam-opt', 'tsnet.scope=global', '--subnet', '10.232.8.0/24', 'g1');
    expect(JSON.parse((await docker('network', 'inspect', 'g1')).stdout)[0].IPAM.Options).toEqual({ 'tsnet.scope': 'global' });
    await docker('run', '-d', '--name', 'gc1', '--network', 'g1', image, 'sleep', '600');
    expect(await ipOf('gc1', 'g1')).toBe('10.232.8.2');
    await etcd.stop();
    try {
      const health = await host.exec(['etcdctl', '--endpoints', etcd.endpoint, '--dial-timeout', '1s', '--command-timeout', '2s', 'endpoint', 'health'], { allowFail: true });
      expect(health.code, 'etcd should be down').not.toBe(0);
      await docker('network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.232.9.0/24', 'local-during-outage');
      await docker('run', '-d', '--name', 'lc1', '--network', 'local-during-outage', image, 'sleep', '600');
      const failed = await tryDocker('network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--ipam-opt', 'tsnet.scope=global', '--subnet', '10.232.10.0/24', 'g2');
      expect(failed.code).not.toBe(0);
      expect(failed.stderr).toMatch(new RegExp(`in etcd ${etcd.endpoint.replaceAll('.', '\\.')}`));
      await reaches('gc1', '10.232.8.1');
    } finally {
      await etcd.start();
    }
    await waitFor(async () => (await tryDocker('network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--ipam-opt', 'tsnet.scope=global', '--subnet', '10.232.10.0/24', 'g2')).code === 0, 'global pools to work again after etcd returns', 30_000, 1_000);
    await docker('run', '-d', '--name', 'gc2', '--network', 'g1', image, 'sleep', '600');
    expect(await ipOf('gc2', 'g1')).toBe('10.232.8.3');
  });
});
