import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DOCKER_CLIENT } from '../support/dockerd.js';
import { run, waitFor, type ExecResult } from '../support/exec.js';
import { startLab, type Lab } from '../support/lab.js';
import { REPO } from '../support/tsnet-daemon.js';

/**
 * Docker swarm with tsnet (README "Docker swarm"): swarm takes only managed plugins as network
 * drivers, so each of two lab hosts runs tsnet as one (deploy/plugin), set to the global driver
 * scope swarm needs to keep a network's options and subnet. h1 is the manager, h2 a worker; a
 * service of two replicas, one per host, on a tsnet overlay gets distinct addresses from the
 * subnet given and its tasks reach each other across hosts, as does a container attached by
 * hand. Docker's own ingress overlay runs beside tsnet's on the same VXLAN port.
 */
const VERSION = (JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const PLUGIN = `tsnet:${VERSION}`;
const HOSTS = ['h1', 'h2'] as const;
const SUBNET_PREFIX = '10.233.7.';

let lab: Lab | undefined;
let dir: string | undefined;

beforeAll(async () => {
  lab = await startLab(2);
  dir = await mkdtemp(join(tmpdir(), 'tsnet-swarm-'));
}, 300_000);

afterAll(async () => {
  if (lab) {
    await docker('h1', 'service', 'rm', 'web').catch(() => undefined);
    for (const h of HOSTS) {
      const ids = (await lab.docker(h, ['ps', '-aq'], { allowFail: true })).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await lab.docker(h, ['rm', '-f', ...ids], { allowFail: true, timeoutMs: 60_000 });
    }
    await lab.docker('h1', ['network', 'rm', 'sw'], { allowFail: true });
    for (const h of ['h2', 'h1']) await lab.docker(h, ['swarm', 'leave', '--force'], { allowFail: true });
    for (const h of HOSTS) {
      await lab.docker(h, ['plugin', 'disable', '-f', PLUGIN], { allowFail: true });
      await lab.docker(h, ['plugin', 'rm', '-f', PLUGIN], { allowFail: true });
    }
  }
  try {
    await lab?.down();
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}, 600_000);

const need = (): { lab: Lab; dir: string } => {
  if (!lab || !dir) throw new Error('the lab did not start');
  return { lab, dir };
};
const docker = (h: string, ...args: string[]): Promise<ExecResult> => need().lab.docker(h, args, { timeoutMs: 120_000 });
const tryDocker = (h: string, ...args: string[]): Promise<ExecResult> => need().lab.docker(h, args, { allowFail: true, timeoutMs: 120_000 });

/** The deploy scripts against one lab host's dockerd, with the plugin's mounts in the test's directory. */
const pluginScript = (h: string, name: string, args: readonly string[]): Promise<ExecResult> => {
  const { lab: l, dir: d } = need();
  return run(['bash', join(REPO, 'deploy', 'plugin', name), ...args], {
    allowFail: true,
    timeoutMs: 600_000,
    env: {
      ...process.env,
      PATH: `${join(process.execPath, '..')}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
      TSNET_PLUGIN_SKIP_BUILD: '1', // startLab built the dist this run uses
      TSNET_STATE_DIR: join(d, h, 'state'),
      TSNET_RUN_DIR: join(d, h, 'run'),
      TSNET_ETCD_TLS_DIR: join(d, h, 'etcd-tls'),
      DOCKER_EXEC_ROOT: join(l.runDir, h, 'exec'),
      DOCKER_HOST: `unix://${join(l.runDir, h, 'docker.sock')}`,
      DOCKER: DOCKER_CLIENT,
      npm_config_offline: 'true',
    },
  });
};

/** Running tasks of the service: node and container id (the container is on that node). */
const runningTasks = async (): Promise<Array<{ node: string; container: string }>> => {
  const tasks: Array<{ node: string; container: string }> = [];
  for (const h of HOSTS) {
    const ids = (await docker(h, 'ps', '-q', '--filter', 'label=com.docker.swarm.service.name=web')).stdout.split('\n').filter(Boolean);
    tasks.push(...ids.map((container) => ({ node: h, container })));
  }
  return tasks;
};
const ipOf = async (h: string, container: string) => (await docker(h, 'inspect', '-f', '{{(index .NetworkSettings.Networks "sw").IPAddress}}', container)).stdout.trim();
const pings = (h: string, from: string, to: string) =>
  waitFor(async () => (await tryDocker(h, 'exec', from, 'ping', '-c', '1', '-W', '2', to)).code === 0, { what: `${from} on ${h} to ping ${to}`, timeoutMs: 30_000, intervalMs: 300 });
const tsnetLinks = async (h: string) => (await need().lab.exec(h, ['ip', '-o', 'link', 'show'])).stdout.split('\n').filter((l) => /^\d+: tsn[a-z]-/.test(l));

describe(`Docker swarm with tsnet as a managed plugin (${PLUGIN}, --driver-scope global)`, () => {
  test('the plugin is installed on both hosts in place of the lab\'s tsnet, with etcd and the global scope', async () => {
    const { lab: l, dir: d } = need();
    const built = await pluginScript('h1', 'build.sh', [join(d, 'plugin')]);
    expect(built.code, `build.sh failed:\n${built.stdout}\n${built.stderr}`).toBe(0);
    for (const h of HOSTS) {
      await l.lab(['tsnet', h, 'stop']);
      const installed = await pluginScript(h, 'install-plugin.sh', [join(d, 'plugin')]);
      expect(installed.code, `install-plugin.sh on ${h} failed:\n${installed.stdout}\n${installed.stderr}`).toBe(0);
      await docker(h, 'plugin', 'disable', PLUGIN);
      await docker(h, 'plugin', 'set', PLUGIN, `TSNET_ETCD_ENDPOINTS=${l.etcdEndpoint}`, `TSNET_HOST_ID=${h}`, 'TSNET_DRIVER_SCOPE=global');
      await docker(h, 'plugin', 'enable', PLUGIN);
    }
    await docker('h1', 'swarm', 'init', '--advertise-addr', '198.19.10.1');
    const token = (await docker('h1', 'swarm', 'join-token', '-q', 'worker')).stdout.trim();
    await docker('h2', 'swarm', 'join', '--advertise-addr', '198.19.10.2', '--token', token, '198.19.10.1:2377');
    const nodes = (await docker('h1', 'node', 'ls', '--format', '{{.Hostname}} {{.Status}}')).stdout.trim().split('\n').sort();
    expect(nodes).toEqual(['h1 Ready', 'h2 Ready']);
  }, 600_000);

  test('a tsnet network made on the manager is a swarm network that keeps its options and subnet', async () => {
    await docker('h1', 'network', 'create', '-d', PLUGIN, '--attachable', '-o', 'tsnet.type=overlay', '-o', 'tsnet.overlay.name=sw', '--subnet', `${SUBNET_PREFIX}0/24`, 'sw');
    const inspected = JSON.parse((await docker('h1', 'network', 'inspect', 'sw', '--format', '{{json .}}')).stdout) as { Scope: string; Options: Record<string, string>; IPAM: { Config: Array<{ Subnet: string }> } };
    expect(inspected.Scope).toBe('swarm');
    expect(inspected.Options).toMatchObject({ 'tsnet.type': 'overlay', 'tsnet.overlay.name': 'sw' });
    expect(inspected.IPAM.Config.map((c) => c.Subnet)).toEqual([`${SUBNET_PREFIX}0/24`]);
    // With the global scope a tsnet network is a swarm network, which only a manager makes.
    const onWorker = await tryDocker('h2', 'network', 'create', '-d', PLUGIN, '-o', 'tsnet.type=overlay', '--subnet', '10.233.8.0/24', 'elsewhere');
    expect(onWorker.code).not.toBe(0);
    expect(onWorker.stderr).toMatch(/manager node/);
  }, 120_000);

  test('a service of two replicas gets one task per host with distinct addresses of the subnet, and they reach each other', async () => {
    // --no-resolve-image and the lab's DOCKER_SERVICE_PREFER_OFFLINE_IMAGE: the image each host has, no registry.
    await docker('h1', 'service', 'create', '-d', '--no-resolve-image', '--name', 'web', '--replicas', '2', '--replicas-max-per-node', '1', '--network', 'sw', 'tsbox', 'sleep', '600');
    const tasks = await waitFor(async () => {
      const found = await runningTasks();
      return found.length === 2 ? found : undefined;
    }, { what: 'both tasks of the service to run', timeoutMs: 90_000, intervalMs: 500 });
    expect(tasks.map((t) => t.node).sort()).toEqual(['h1', 'h2']);
    const ips = await Promise.all(tasks.map((t) => ipOf(t.node, t.container)));
    expect(new Set(ips).size, ips.join(' ')).toBe(2);
    for (const ip of ips) expect(ip.startsWith(SUBNET_PREFIX), ip).toBe(true);
    const [a, b] = tasks as [{ node: string; container: string }, { node: string; container: string }];
    const [ipA, ipB] = ips as [string, string];
    await pings(a.node, a.container, ipB);
    await pings(b.node, b.container, ipA);
    // Docker's embedded DNS knows the service's tasks on every node.
    const tasksAnswer = await waitFor(async () => {
      const answer = (await tryDocker(b.node, 'exec', b.container, 'nslookup', 'tasks.web')).stdout;
      return answer.includes(ipA) && answer.includes(ipB) ? answer : undefined;
    }, { what: 'tasks.web to resolve to both tasks', timeoutMs: 30_000, intervalMs: 500 });
    expect(tasksAnswer).toContain(ipA);
    // tsnet's devices carry the overlay: a VXLAN device of tsnet's on each host, with a VNI clear
    // of the one Docker's ingress overlay holds on the same UDP port.
    for (const h of HOSTS) {
      const vxlan = (await need().lab.exec(h, ['ip', '-d', '-o', 'link', 'show', 'type', 'vxlan'])).stdout;
      expect(vxlan, `${h}: ${vxlan}`).toMatch(/tsnx-\S+.* vxlan id (\d{7,}) /);
    }
  }, 180_000);

  test('a container attached by hand on the worker gets an address of the subnet and reaches the task on the manager', async () => {
    const tasks = await runningTasks();
    const onManager = tasks.find((t) => t.node === 'h1');
    expect(onManager).toBeDefined();
    const managerIp = await ipOf('h1', onManager?.container ?? '');
    await docker('h2', 'run', '-d', '--name', 'probe', '--network', 'sw', 'tsbox', 'sleep', '600');
    const ip = await ipOf('h2', 'probe');
    expect(ip.startsWith(SUBNET_PREFIX), ip).toBe(true);
    expect([managerIp, ...(await Promise.all(tasks.map((t) => ipOf(t.node, t.container))))]).not.toContain(ip);
    await pings('h2', 'probe', managerIp);
    await docker('h2', 'rm', '-f', 'probe');
  }, 120_000);

  test('the service and the network removed, no tsnet link is left on either host', async () => {
    await docker('h1', 'service', 'rm', 'web');
    // Workers drop a swarm network once their last task on it is gone.
    for (const h of HOSTS) {
      await waitFor(async () => (await runningTasks()).length === 0 && (await tsnetLinks(h)).length === 0, { what: `${h} to remove the tasks and tsnet's links`, timeoutMs: 60_000, intervalMs: 500 });
    }
    await docker('h1', 'network', 'rm', 'sw');
    for (const h of HOSTS) expect(await tsnetLinks(h)).toEqual([]);
    // No host tried a registry: tasks ran the image each host has.
    for (const h of HOSTS) expect(await readFile(join(need().lab.runDir, h, 'dockerd.log'), 'utf8')).not.toMatch(/registry-1\.docker\.io|pulling image/);
  }, 120_000);
});
