import { execFileSync } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, fstatSync, openSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, waitFor, type ExecResult } from './exec.js';
import { createNetns, deleteNetns, execIn, linkToOutside, netnsExists, netnsPath, uniqueNetnsName } from './netns.js';
import { isAlive, spawnTracked, tail, type Tracked } from './process.js';

export { HOST_UPLINK_IP, HOST_UPLINK_IP6, OUTSIDE_IP, OUTSIDE_IP6 } from './netns.js';

/**
 * The dockerd versions the e2e suite runs against (README "Testing"), picked by one environment
 * variable, `TSNET_E2E_DOCKER`:
 * - `20.10` (the default): Debian 12's docker.io, `/usr/sbin/dockerd` and its `/usr/bin/docker`.
 * - `28.5`: Debian unstable's docker.io 28.5.2, docker-cli 28.5.2 and containerd 2.1.9, unpacked
 *   (not installed) by `deploy/docker-28/fetch.sh` into `TSNET_DOCKER28_DIR` (default
 *   /var/cache/tsnet/docker-28.5). Unstable's runc needs a newer glibc, so Debian 12's
 *   /usr/sbin/runc is used with it.
 */
export type DockerUnderTest = '20.10' | '28.5';

const DOCKER_VERSIONS: readonly DockerUnderTest[] = ['20.10', '28.5'];

function dockerUnderTest(value: string | undefined): DockerUnderTest {
  if (value === undefined || value === '') return '20.10';
  if ((DOCKER_VERSIONS as readonly string[]).includes(value)) return value as DockerUnderTest;
  throw new Error(`TSNET_E2E_DOCKER=${value}: must be one of ${DOCKER_VERSIONS.join(', ')}`);
}

/** The dockerd version under test, from `TSNET_E2E_DOCKER` (default `20.10`). */
export const DOCKER_VERSION: DockerUnderTest = dockerUnderTest(process.env.TSNET_E2E_DOCKER);
/**
 * Its major version, for expectations that differ between versions; write them as
 * `if (DOCKER_MAJOR >= 28) … else …` with a comment saying what differs and why.
 */
export const DOCKER_MAJOR: number = Number(DOCKER_VERSION.split('.')[0]);

/** Where deploy/docker-28/fetch.sh unpacks dockerd 28.5 (the same variable as the script's). */
export const DOCKER28_DIR = process.env.TSNET_DOCKER28_DIR || '/var/cache/tsnet/docker-28.5';

/** Debian 12's tool directories: runc (and, for 20.10, containerd and docker-proxy) are found here. */
const SYSTEM_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The client that matches the daemon under test. A newer client earlier on the runner's PATH
 * refuses some flags against a 20.10 daemon, and the 20.10 client lacks 28's (`--gw-priority`…).
 */
export const DOCKER_CLIENT = DOCKER_VERSION === '28.5' ? `${DOCKER28_DIR}/usr/bin/docker` : '/usr/bin/docker';
/** The dockerd under test. */
export const DOCKERD = DOCKER_VERSION === '28.5' ? `${DOCKER28_DIR}/usr/sbin/dockerd` : '/usr/sbin/dockerd';
/**
 * PATH for dockerd: it looks up containerd, containerd-shim-runc-v2, runc and docker-proxy there,
 * and must find the ones of the version under test, not whatever newer tools are earlier on the
 * test runner's PATH. For 28.5 the cache directory comes first (its containerd 2.1.9 and
 * docker-proxy), then Debian 12's directories for runc.
 */
export const DOCKERD_PATH = DOCKER_VERSION === '28.5' ? `${DOCKER28_DIR}/usr/sbin:${DOCKER28_DIR}/usr/bin:${SYSTEM_PATH}` : SYSTEM_PATH;

/**
 * Throws, saying how to get it, when the dockerd under test or its client is not on this machine
 * (28.5 before `bash deploy/docker-28/fetch.sh`).
 */
export function assertDockerUnderTestPresent(): void {
  const missing = [DOCKERD, DOCKER_CLIENT].filter((f) => !isExecutable(f));
  if (missing.length === 0) return;
  const how = DOCKER_VERSION === '28.5'
    ? `run \`bash deploy/docker-28/fetch.sh\` (as root) to fetch dockerd 28.5 into ${DOCKER28_DIR}`
    : 'install Debian\'s docker.io (bash deploy/prerequisites.sh --test)';
  throw new Error(`TSNET_E2E_DOCKER=${DOCKER_VERSION}: ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing; ${how}`);
}

/** `Docker version 28.5.2+dfsg4, build …` of the dockerd under test, for the log of each test file. */
export function describeDockerUnderTest(): string {
  const version = (file: string) => {
    try {
      return execFileSync(file, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim();
    } catch (err) {
      return `(${file} --version failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)})`;
    }
  };
  return `TSNET_E2E_DOCKER=${DOCKER_VERSION}: dockerd ${DOCKERD} (${version(DOCKERD)}), client ${DOCKER_CLIENT}, dockerd PATH ${DOCKERD_PATH}`;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Options of {@link startSimulatedHost}. */
export interface SimulatedHostOptions {
  /** Short purpose (lower-case letters and digits), part of the namespace and directory names. */
  readonly name: string;
}

/** Options of {@link SimulatedHost.docker}. */
export interface DockerOptions {
  /** Return the result instead of throwing on a non-zero exit. */
  readonly allowFail?: boolean;
  /** Default 120 s. */
  readonly timeoutMs?: number;
  /** Written to the client's stdin. */
  readonly input?: string | Buffer;
}

/**
 * A Docker host of its own on this machine: a network namespace, so the test never
 * touches the real host's links, firewall or Docker; an "outside" namespace linked to it that
 * plays the rest of the world; and a dockerd (with its own containerd) in a private mount and
 * UTS namespace whose /run/docker/plugins is {@link pluginsDir}.
 */
export interface SimulatedHost {
  /** Unique name: the network namespace's name and dockerd's hostname (`docker info` Name). */
  readonly name: string;
  /** Network namespace of the host: dockerd, containerd, bridges, iptables and the plugin live here. */
  readonly netns: string;
  /** `/run/netns/<netns>`, for `nsenter --net=`. */
  readonly netnsPath: string;
  /** Namespace that plays the rest of the world, at OUTSIDE_IP and OUTSIDE_IP6; no route back to container subnets. */
  readonly outside: string;
  /** `/run/netns/<outside>`. */
  readonly outsidePath: string;
  /** Private temp directory: data/, exec/, dockerd.pid, docker.sock, dockerd.log, plugins/. */
  readonly dir: string;
  /**
   * Host path of the directory mounted over /run/docker/plugins in dockerd's mount namespace: a
   * plugin daemon that creates NAME.sock here is found by this dockerd as driver NAME.
   */
  readonly pluginsDir: string;
  /** dockerd's API socket. */
  readonly socketPath: string;
  /** The running dockerd (a new one after {@link restartDockerd}). */
  readonly dockerd: Tracked;
  /** PID of the running dockerd. */
  readonly dockerdPid: number;
  /** Runs {@link DOCKER_CLIENT} `-H unix://<socketPath> ...args`; throws on failure unless allowFail. */
  docker(args: readonly string[], options?: DockerOptions): Promise<ExecResult>;
  /** Runs a short command in the host's network namespace (`ip netns exec`). */
  exec(argv: readonly string[], options?: { allowFail?: boolean; timeoutMs?: number }): Promise<ExecResult>;
  /** dockerd's log so far (every dockerd this host ran), for failure messages. */
  logs(): string;
  /**
   * PIDs of processes that still belong to this host: in one of its dockerds' mount namespaces
   * (containerd, shims, docker-proxy), in its two network namespaces, or in its container cgroups.
   * After {@link stop} this is empty.
   */
  processes(): Promise<number[]>;
  /** SIGTERM dockerd (by PID), wait, and start it again on the same state. */
  restartDockerd(): Promise<void>;
  /**
   * Idempotent teardown, safe on a half-started host: `docker rm -f` every container, SIGTERM
   * dockerd by PID (SIGKILL after 20 s), end whatever of this host's processes is left (by PID,
   * see {@link processes}), delete both namespaces, the container cgroups and the directory.
   * Every step runs even when an earlier one failed; then, if anything is left (a process, a
   * namespace and the links in it, a cgroup, the directory) or a step failed, it rejects with a
   * message naming each, so a test run cannot pass while leaking. Leftover processes that the
   * sweep did end are only reported (console.warn): that is the sweep doing its job, e.g. after
   * dockerd was killed with SIGKILL on purpose. A second call returns the same outcome.
   */
  stop(): Promise<void>;
}

/** Hosts of this process that have not been stopped, for {@link stopAllSimulatedHosts}. */
const live = new Set<SimulatedHost>();

/**
 * The script that becomes dockerd, run as `nsenter --net=NS unshare -m -u --propagation private
 * sh -c SCRIPT sh PLUGINS HOSTNAME` + dockerd's argv. Paths arrive as positional parameters and
 * are never spliced into the script text.
 *
 * - /run/docker/plugins: this host's own plugin directory.
 * - /run/containerd: an empty tmpfs, so dockerd never finds a system containerd's socket and
 *   starts its own under its exec-root (dockerd 20.10 reuses /run/containerd/containerd.sock
 *   when it exists); shims put their sockets here too.
 * - nsfs mounts (other tests' `ip netns add` pins, copied into this new mount namespace) are
 *   unmounted: a private copy would keep those namespaces alive after their owners delete them.
 * - cgroup mounts stay visible (unlike `ip netns exec`, which remounts /sys).
 */
const LAUNCH_SCRIPT = [
  'set -e',
  'mkdir -p /run/docker/plugins /run/containerd',
  'mount --bind "$1" /run/docker/plugins',
  'mount -t tmpfs -o mode=0711 tsnt-containerd /run/containerd',
  "grep ' - nsfs ' /proc/self/mountinfo | while read -r _ _ _ _ mp _; do umount -l \"$mp\" 2>/dev/null || true; done",
  'hostname "$2"',
  'shift 2',
  'exec "$@"',
].join('\n');

/**
 * Starts a simulated host and waits until its dockerd answers `docker info` (60 s at most; the
 * error carries the tail of dockerd's log). Call {@link SimulatedHost.stop} or
 * {@link stopAllSimulatedHosts} in `afterAll`; a host that fails to start cleans up after itself.
 *
 * `startSimulatedHost('purpose')` is the older form of `startSimulatedHost({ name: 'purpose' })`.
 */
export async function startSimulatedHost(options: SimulatedHostOptions | string): Promise<SimulatedHost> {
  assertDockerUnderTestPresent();
  const purpose = typeof options === 'string' ? options : options.name;
  const netns = uniqueNetnsName(purpose);
  const outside = uniqueNetnsName('out');
  const dir = await mkdtemp(join(tmpdir(), `tsnet-${purpose}-`));
  const pluginsDir = join(dir, 'plugins');
  const socketPath = join(dir, 'docker.sock');
  const logFile = join(dir, 'dockerd.log');
  const cgroupParent = `/${netns}`;

  let dockerd: Tracked | undefined;
  const namespaces = new PinnedNamespaces();
  let dockerdMnt: string | undefined;
  let stopping: Promise<void> | undefined;

  const docker = (args: readonly string[], opts: DockerOptions = {}) =>
    run([DOCKER_CLIENT, '-H', `unix://${socketPath}`, ...args], { timeoutMs: opts.timeoutMs ?? 120_000, allowFail: opts.allowFail, input: opts.input });
  const logs = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return dockerd?.output() ?? '';
    }
  };

  const launch = async (): Promise<Tracked> => {
    const argv = [
      DOCKERD,
      '--data-root', join(dir, 'data'),
      '--exec-root', join(dir, 'exec'),
      '--pidfile', join(dir, 'dockerd.pid'),
      '-H', `unix://${socketPath}`,
      // Not /etc/docker/daemon.json; it also points the engine key (and so the engine ID) at
      // dir/key.json instead of the shared /etc/docker/key.json.
      '--config-file', join(dir, 'daemon.json'),
      '--cgroup-parent', cgroupParent,
      '--iptables=true',
      '--ip-forward=true',
    ];
    const proc = spawnTracked(
      ['nsenter', `--net=${netnsPath(netns)}`, 'unshare', '-m', '-u', '--propagation', 'private', 'sh', '-c', LAUNCH_SCRIPT, 'sh', pluginsDir, netns, ...argv],
      { logFile, env: { ...process.env, PATH: DOCKERD_PATH } },
    );
    dockerd = proc;
    const failed = async (why: string) =>
      new Error(`${why}\n--- dockerd log tail (${logFile}) ---\n${tail(logs())}`);
    // nsenter, unshare and sh all exec, so the PID becomes dockerd's own once the script has run;
    // only then is its mount namespace the private one, which stop() may sweep.
    const started = await waitFor(async () => !proc.isRunning() || (await comm(proc.pid)) === 'dockerd', { what: 'dockerd to start', timeoutMs: 10_000, intervalMs: 10 })
      .catch(() => false);
    if (!started || !proc.isRunning()) throw await failed(`dockerd of ${netns} did not start (exit code ${proc.isRunning() ? 'none yet' : await proc.exited})`);
    dockerdMnt = namespaces.pin(`/proc/${proc.pid}/ns/mnt`);
    const state = await waitFor(
      async () => {
        if (!proc.isRunning()) return 'exited';
        return (await docker(['info', '--format', '{{.Name}}'], { allowFail: true, timeoutMs: 10_000 })).code === 0 && 'up';
      },
      { what: `dockerd of ${netns} to answer docker info`, timeoutMs: 60_000, intervalMs: 200 },
    ).catch(async (err: unknown) => {
      throw await failed(err instanceof Error ? err.message : String(err));
    });
    if (state === 'exited') throw await failed(`dockerd of ${netns} exited during start-up with code ${await proc.exited}`);
    return proc;
  };

  const scan = async (): Promise<number[]> => {
    const pids = new Set<number>();
    for (const pid of await allPids()) {
      if (pid === process.pid) continue;
      const [mnt, net] = await Promise.all([nsId(pid, 'mnt'), nsId(pid, 'net')]);
      if ((mnt && namespaces.has(mnt)) || (net && namespaces.has(net))) pids.add(pid);
    }
    for (const pid of await cgroupPids(cgroupParent)) pids.add(pid);
    return [...pids].sort((a, b) => a - b);
  };
  let remainingAfterStop: number[] | undefined;
  const processes = async () => (remainingAfterStop ? remainingAfterStop.filter(isAlive) : scan());

  const stop = () => {
    stopping ??= (async () => {
      /** What is left or failed: the teardown rejects with these. */
      const problems: string[] = [];
      /** What the teardown had to clean up beyond the orderly path, but did. */
      const notes: string[] = [];
      // Every step runs even when an earlier one failed; failures are collected and thrown at the end.
      const step = async (what: string, fn: () => Promise<unknown>) => {
        await fn().catch((err: unknown) => problems.push(`${what} failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`));
      };
      if (dockerd?.isRunning()) {
        // Containers first: on SIGTERM dockerd would give each one 10 s to stop. When a network
        // plugin the containers use has already been stopped, dockerd retries it for ~30 s per
        // call, so this is bounded, and what it leaves is ended by PID below.
        await step('docker rm -f (was a network plugin stopped before the host?)', async () => {
          const ids = (await docker(['ps', '-aq'], { allowFail: true, timeoutMs: 10_000 })).stdout.split('\n').filter(Boolean);
          if (ids.length === 0) return;
          const removed = await docker(['rm', '-f', ...ids], { allowFail: true, timeoutMs: 30_000 });
          if (removed.code !== 0) notes.push(`docker rm -f exited ${removed.code}: ${removed.stderr.trim().split('\n')[0] ?? ''}`);
        });
        await step('stopping dockerd', async () => {
          const code = await (dockerd?.stop('SIGTERM', 20_000) ?? Promise.resolve(0));
          if (code !== 0) notes.push(`dockerd ${dockerd?.pid} exited with code ${code} on SIGTERM`);
        });
      }
      // The namespaces are still pinned here, so their identities cannot have been reused.
      await step('ending leftover processes', async () => {
        const leftover = await scan();
        if (leftover.length === 0) return;
        notes.push(`ended leftover processes ${await describe(leftover)}`);
        await endProcesses(leftover);
      });
      // Links are named while the namespaces can still be entered, in case they cannot be deleted.
      const linksOf = async (ns: string) =>
        (await execIn(ns, ['ip', '-o', 'link', 'show'], { allowFail: true, timeoutMs: 10_000 }).catch(() => undefined))?.stdout
          .split('\n').map((l) => l.split(': ')[1]?.split('@')[0]).filter((n): n is string => Boolean(n)) ?? [];
      for (const ns of [netns, outside]) {
        const links = netnsExists(ns) ? await linksOf(ns) : [];
        await step(`deleting netns ${ns}`, () => deleteNetns(ns));
        if (netnsExists(ns)) problems.push(`netns ${ns} is left, with links ${links.join(', ') || '(none)'}`);
      }
      await step('final check', async () => {
        remainingAfterStop = await scan();
        if (remainingAfterStop.length > 0) problems.push(`processes ${await describe(remainingAfterStop)} would not end`);
      });
      namespaces.release();
      await step('removing cgroups', async () => {
        const left = await removeCgroups(cgroupParent);
        if (left.length > 0) problems.push(`cgroups ${left.join(', ')} are left`);
      });
      await step(`removing ${dir}`, () => rm(dir, { recursive: true, force: true }));
      if (existsSync(dir)) problems.push(`directory ${dir} is left`);
      live.delete(host);
      if (notes.length > 0) console.warn(`simulated host ${netns} teardown: ${notes.join('; ')}`);
      if (problems.length > 0) throw new Error(`simulated host ${netns} teardown left things behind: ${problems.join('; ')}`);
    })();
    return stopping;
  };

  const host: SimulatedHost = {
    name: netns,
    netns,
    netnsPath: netnsPath(netns),
    outside,
    outsidePath: netnsPath(outside),
    dir,
    pluginsDir,
    socketPath,
    get dockerd() {
      if (!dockerd) throw new Error(`dockerd of ${netns} has not been started`);
      return dockerd;
    },
    get dockerdPid() {
      return dockerd?.pid ?? -1;
    },
    docker,
    exec: (argv, opts = {}) => execIn(netns, argv, { allowFail: opts.allowFail, timeoutMs: opts.timeoutMs ?? 60_000 }),
    logs,
    processes,
    async restartDockerd() {
      await dockerd?.stop('SIGTERM', 20_000);
      // Let the old mount namespace go once nothing runs in it; otherwise stop() sweeps it.
      const old = dockerdMnt;
      const inOld = await Promise.all((await scan()).map(async (pid) => (await nsId(pid, 'mnt')) === old));
      if (old && !inOld.includes(true)) namespaces.unpin(old);
      await launch();
    },
    stop,
  };

  // Registered before anything is created, so a failure half-way is cleaned up like a success.
  live.add(host);
  try {
    await mkdir(pluginsDir, { recursive: true });
    await writeFile(join(dir, 'daemon.json'), `${JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json') })}\n`);
    await createNetns(netns);
    namespaces.pin(netnsPath(netns));
    await createNetns(outside);
    namespaces.pin(netnsPath(outside));
    await linkToOutside(netns, outside);
    await launch();
  } catch (err) {
    await stop();
    throw err;
  }
  return host;
}

/**
 * Safety net for `afterAll`: stops every simulated host this process started and has not
 * stopped. Each host's teardown runs to the end; then the failures of all of them are thrown.
 */
export async function stopAllSimulatedHosts(): Promise<void> {
  const outcomes = await Promise.allSettled([...live].map((h) => h.stop()));
  const failures = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason instanceof Error ? o.reason.message : String(o.reason)] : []));
  if (failures.length > 0) throw new Error(failures.join('\n'));
}

/** `mnt:[4026532…]`-style identity of a process's namespace, or undefined if it is gone. */
async function nsId(pid: number, kind: 'mnt' | 'net'): Promise<string | undefined> {
  return readlink(`/proc/${pid}/ns/${kind}`).catch(() => undefined);
}

async function comm(pid: number): Promise<string> {
  return (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
}

/**
 * The namespaces that belong to one simulated host, each held open by a file descriptor: a
 * namespace's identity (its nsfs inode) is reused by the kernel once it is freed, so only a
 * pinned namespace can safely decide which processes are "ours". Never admits the test
 * process's own namespaces, so a mistake here cannot make stop() sweep the real host.
 */
class PinnedNamespaces {
  private readonly pins = new Map<string, number>();
  private readonly own = new Set([readlinkSync('/proc/self/ns/mnt'), readlinkSync('/proc/self/ns/net')]);

  /** Pins the namespace at `path` (`/run/netns/NAME`, `/proc/PID/ns/mnt`) and returns its identity. */
  pin(path: string): string {
    const fd = openSync(path, 'r');
    const kind = path.startsWith('/proc/') ? path.slice(path.lastIndexOf('/') + 1) : 'net';
    const id = `${kind}:[${fstatSync(fd).ino}]`;
    if (this.own.has(id) || this.pins.has(id)) {
      closeSync(fd);
      if (this.own.has(id)) throw new Error(`refusing to treat the test process's own namespace ${id} (${path}) as a simulated host's`);
      return id;
    }
    this.pins.set(id, fd);
    return id;
  }

  unpin(id: string): void {
    const fd = this.pins.get(id);
    if (fd !== undefined) closeSync(fd);
    this.pins.delete(id);
  }

  has(id: string): boolean {
    return this.pins.has(id);
  }

  /** Closes every pin; the kernel frees the namespaces once nothing else holds them. */
  release(): void {
    for (const fd of this.pins.values()) closeSync(fd);
    this.pins.clear();
  }
}


async function allPids(): Promise<number[]> {
  return (await readdir('/proc')).filter((e) => /^\d+$/.test(e)).map(Number);
}

/** The cgroup v1 hierarchies dockerd's cgroupfs driver puts containers in, plus the v2 one. */
async function cgroupDirs(parent: string): Promise<string[]> {
  const root = '/sys/fs/cgroup';
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  const dirs = entries.filter((e) => e.isDirectory()).map((e) => join(root, e.name, parent));
  dirs.push(join(root, parent)); // pure cgroup v2
  return dirs;
}

/** PIDs in any cgroup under `parent` (the host's containers). */
async function cgroupPids(parent: string): Promise<number[]> {
  const pids = new Set<number>();
  const walk = async (dir: string): Promise<void> => {
    const procs = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const line of procs.split('\n')) if (line) pids.add(Number(line));
    const subs = await readdir(dir, { withFileTypes: true }).catch(() => []);
    await Promise.all(subs.filter((s) => s.isDirectory()).map((s) => walk(join(dir, s.name))));
  };
  await Promise.all((await cgroupDirs(parent)).map(walk));
  return [...pids];
}

/**
 * Removes the (empty) container cgroups under `parent`, deepest first, and returns those that
 * are still there after a few tries (a cgroup whose last task just exited can be busy briefly).
 */
async function removeCgroups(parent: string): Promise<string[]> {
  const remove = async (dir: string): Promise<void> => {
    const subs = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const s of subs) if (s.isDirectory()) await remove(join(dir, s.name));
    await rmdir(dir).catch(() => undefined);
  };
  const left = async () => (await cgroupDirs(parent)).filter((d) => existsSync(d));
  for (let attempt = 0; attempt < 20; attempt++) {
    for (const dir of await cgroupDirs(parent)) await remove(dir);
    if ((await left()).length === 0) return [];
    await new Promise((r) => setTimeout(r, 100));
  }
  return left();
}

async function describe(pids: readonly number[]): Promise<string> {
  const names = await Promise.all(pids.map(async (pid) => `${pid} (${(await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim()})`));
  return names.join(', ');
}

/** SIGTERM each PID, wait up to 2 s, then SIGKILL what is left and wait for it to go. */
async function endProcesses(pids: readonly number[]): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  const alive = () => pids.filter(isAlive);
  signal('SIGTERM');
  const gone = await waitFor(() => alive().length === 0, { what: 'leftover processes to end', timeoutMs: 2_000, intervalMs: 50 }).catch(() => false);
  if (gone) return;
  signal('SIGKILL');
  await waitFor(() => alive().length === 0, { what: `processes ${alive().join(', ')} to die after SIGKILL`, timeoutMs: 5_000, intervalMs: 50 }).catch(() => undefined);
}
