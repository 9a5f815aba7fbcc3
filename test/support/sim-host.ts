import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, waitFor, type ExecResult } from './exec.js';
import { createNetns, deleteNetns, inNetns, linkNetns, testNetnsName } from './netns.js';
import { spawnTracked, type Tracked } from './process.js';

/** Debian's 20.10 client; a newer client on PATH refuses some flags against a 20.10 daemon. */
export const DOCKER_CLIENT = '/usr/bin/docker';

/** Addresses of the link between the simulated host and its "outside" world (benchmark range). */
export const HOST_UPLINK_IP = '198.18.0.1';
export const OUTSIDE_IP = '198.18.0.2';

export interface SimulatedHost {
  readonly name: string;
  /** Network namespace of the host (dockerd, tsnet, bridges, iptables all live here). */
  readonly netns: string;
  readonly netnsPath: string;
  /** Namespace that plays the rest of the world, reachable at OUTSIDE_IP. */
  readonly outside: string;
  readonly dir: string;
  /** Bind-mounted over /run/docker/plugins for this host's dockerd. */
  readonly pluginsDir: string;
  /** The running dockerd (replaced by restartDockerd). */
  readonly dockerd: Tracked;
  /** Stops dockerd (SIGTERM, by PID) and starts it again with the same state. */
  restartDockerd(): Promise<void>;
  docker(args: readonly string[], options?: { allowFail?: boolean; timeoutMs?: number }): Promise<ExecResult>;
  /** Runs a command in the host's namespace. */
  exec(argv: readonly string[], options?: { allowFail?: boolean; timeoutMs?: number }): Promise<ExecResult>;
  stop(): Promise<void>;
}

const started = new Set<SimulatedHost>();

/**
 * A Docker host of its own on this machine: a network namespace (so the test never touches the
 * real host's links, firewall or Docker), linked to an "outside" namespace, with a dockerd in a
 * private mount namespace whose /run/docker/plugins is a directory of ours (DESIGN.md §3).
 */
export async function startSimulatedHost(purpose: string): Promise<SimulatedHost> {
  const netns = testNetnsName(purpose);
  const outside = testNetnsName('out');
  const dir = await mkdtemp(join(tmpdir(), `tsnet-${purpose}-`));
  const pluginsDir = join(dir, 'plugins');
  await mkdir(pluginsDir, { recursive: true });
  await createNetns(netns);
  await createNetns(outside);
  const cleanupNs = async () => { await deleteNetns(netns); await deleteNetns(outside); };
  try {
    await linkNetns({ ns: netns, ifname: 'uplink0', cidr: `${HOST_UPLINK_IP}/24` }, { ns: outside, ifname: 'hostlink0', cidr: `${OUTSIDE_IP}/24` });
    await run(['ip', '-n', netns, 'route', 'add', 'default', 'via', OUTSIDE_IP]);
  } catch (err) {
    await cleanupNs();
    throw err;
  }
  const sock = join(dir, 'docker.sock');
  // Paths are passed as positional parameters, never spliced into the script text.
  const script = [
    'set -e',
    'mkdir -p /run/docker/plugins /run/containerd',
    'mount --bind "$1" /run/docker/plugins',
    // Hide any system containerd so this dockerd starts its own under its exec-root.
    'mount -t tmpfs tmpfs /run/containerd',
    'hostname "$2"',
    'exec dockerd --data-root "$3/data" --exec-root "$3/exec" --pidfile "$3/dockerd.pid" -H "unix://$4" --iptables=true --ip-forward=true',
  ].join('\n');
  const launch = () => spawnTracked(['nsenter', `--net=/run/netns/${netns}`, 'unshare', '-m', '-u', '--propagation', 'private', 'sh', '-c', script, 'sh', pluginsDir, netns, dir, sock], join(dir, 'dockerd.log'));
  let dockerd = launch();
  const docker = (args: readonly string[], options: { allowFail?: boolean; timeoutMs?: number } = {}) =>
    run([DOCKER_CLIENT, '-H', `unix://${sock}`, ...args], { timeoutMs: options.timeoutMs ?? 120_000, allowFail: options.allowFail });
  let stopped = false;
  const waitForDockerd = () => waitFor(async () => dockerd.isRunning() && (await docker(['version', '--format', '{{.Server.Version}}'], { allowFail: true, timeoutMs: 5_000 })).code === 0, 'dockerd to answer', 60_000, 200);
  const host: SimulatedHost = {
    name: netns, netns, netnsPath: `/run/netns/${netns}`, outside, dir, pluginsDir, docker,
    get dockerd() { return dockerd; },
    async restartDockerd() {
      await dockerd.stop(20_000);
      dockerd = launch();
      await waitForDockerd();
    },
    exec: (argv, options = {}) => inNetns(netns, argv, { allowFail: options.allowFail, timeoutMs: options.timeoutMs ?? 60_000 }),
    async stop() {
      if (stopped) return;
      stopped = true;
      started.delete(host);
      if (dockerd.isRunning()) {
        const ids = (await docker(['ps', '-aq'], { allowFail: true, timeoutMs: 30_000 })).stdout.split('\n').filter(Boolean);
        if (ids.length > 0) await docker(['rm', '-f', ...ids], { allowFail: true, timeoutMs: 60_000 });
        await dockerd.stop(20_000);
      }
      await cleanupNs();
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
  started.add(host);
  try {
    await waitForDockerd();
  } catch (err) {
    const log = (await dockerd.log()).split('\n').slice(-20).join('\n');
    await host.stop();
    throw new Error(`${String(err)}\n--- dockerd log tail ---\n${log}`);
  }
  return host;
}

/** Safety net for afterAll: stops every simulated host this process started and still runs. */
export async function stopAllSimulatedHosts(): Promise<void> {
  await Promise.all([...started].map((h) => h.stop()));
}
