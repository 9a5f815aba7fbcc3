import { existsSync, realpathSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import { DOCKER28_DIR, DOCKER_MAJOR, DOCKER_VERSION, DOCKERD, startSimulatedHost, stopAllSimulatedHosts, type SimulatedHost } from '../support/dockerd.js';
import { run, waitFor } from '../support/exec.js';
import { ensureTestImage } from '../support/image.js';
import { HOST_UPLINK_IP, OUTSIDE_IP, execIn, netnsExists } from '../support/netns.js';
import { isAlive, spawnTracked } from '../support/process.js';

// Smoke test of the e2e harness itself, with Docker's built-in drivers only (no tsnet): if this
// file fails, the other e2e files cannot be trusted either.

let host: SimulatedHost | undefined;
let image: string;
const timings: string[] = [];

// Registered before the host exists, and run whether or not the tests pass.
afterAll(async () => {
  await stopAllSimulatedHosts();
  if (timings.length > 0) console.log(`simulated host timings: ${timings.join(', ')}`);
});

beforeAll(async () => {
  const t0 = Date.now();
  host = await startSimulatedHost({ name: 'harness' });
  timings.push(`start ${Date.now() - t0} ms`);
  image = await ensureTestImage(host);
});

const h = (): SimulatedHost => {
  if (!host) throw new Error('the simulated host did not start');
  return host;
};
const docker = (...args: string[]) => h().docker(args);
const ping = (container: string, target: string) => h().docker(['exec', container, 'ping', '-c', '1', '-W', '2', target], { allowFail: true });
/** PIDs of this host's processes whose command name is `name`. */
const processesNamed = async (target: SimulatedHost, name: string) => {
  const pids = await target.processes();
  const names = await Promise.all(pids.map(async (pid) => (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim()));
  return pids.filter((_, i) => names[i] === name);
};

describe('simulated host with Docker built-in drivers', () => {
  test('dockerd runs in its own namespaces, with its own plugin directory and hostname', async () => {
    const hst = h();
    expect(existsSync(hst.netnsPath)).toBe(true);
    expect((await docker('info', '--format', '{{.Name}}')).stdout.trim()).toBe(hst.name);
    // The dockerd under test (TSNET_E2E_DOCKER), its own client, and the containerd that goes
    // with it: 28.5's containerd 2.1.9 from the fetched cache, 20.10's from Debian 12.
    const version = new RegExp(`^${DOCKER_VERSION.replace('.', '\\.')}\\.`);
    expect((await docker('version', '--format', '{{.Server.Version}}')).stdout).toMatch(version);
    expect((await docker('version', '--format', '{{.Client.Version}}')).stdout).toMatch(version);
    expect(realpathSync(`/proc/${hst.dockerdPid}/exe`)).toBe(realpathSync(DOCKERD));
    const [containerd] = await processesNamed(hst, 'containerd');
    expect(containerd).toBeDefined();
    const containerdExe = DOCKER_MAJOR >= 28 ? join(DOCKER28_DIR, 'usr/bin/containerd') : '/usr/bin/containerd';
    expect(realpathSync(`/proc/${containerd}/exe`)).toBe(realpathSync(containerdExe));
    // dockerd's PID is the one the harness spawned, and its pidfile agrees.
    expect(Number(await readFile(join(hst.dir, 'dockerd.pid'), 'utf8'))).toBe(hst.dockerdPid);
    // The bind mount is visible to dockerd only.
    const inside = await readFile(`/proc/${hst.dockerdPid}/mountinfo`, 'utf8');
    expect(inside).toMatch(/ \/run\/docker\/plugins /);
    const ours = await readFile('/proc/self/mountinfo', 'utf8');
    expect(ours).not.toContain(hst.pluginsDir);
    // cgroups stay visible to dockerd (ip netns exec would have hidden them).
    expect(inside).toMatch(/ \/sys\/fs\/cgroup\S* .* - cgroup2? /);
    // No system containerd socket to pick up, and no other namespace pinned by a copied mount.
    expect(inside).toMatch(/ \/run\/containerd .* - tmpfs /);
    expect(inside).not.toMatch(/ - nsfs /);
  });

  test('containers on a user-defined bridge reach each other by IP and by name', async () => {
    await docker('network', 'create', '-d', 'bridge', '--subnet', '10.231.0.0/24', 'hb');
    await docker('run', '-d', '--name', 'c1', '--network', 'hb', image, 'sleep', '600');
    await docker('run', '-d', '--name', 'c2', '--network', 'hb', image, 'sleep', '600');
    const ip2 = (await docker('inspect', '-f', '{{(index .NetworkSettings.Networks "hb").IPAddress}}', 'c2')).stdout.trim();
    expect(ip2).toMatch(/^10\.231\.0\.\d+$/);
    expect((await ping('c1', ip2)).code).toBe(0);
    expect((await ping('c1', 'c2')).code).toBe(0);
    expect((await ping('c2', 'c1')).code).toBe(0);
  });

  test('outbound traffic reaches the outside, masqueraded behind the host address', async () => {
    const hst = h();
    expect((await ping('c1', OUTSIDE_IP)).code).toBe(0);
    // The outside has no route to 10.231.0.0/24: a reply can only come back if the source was
    // rewritten to the host's address. Check that directly too.
    expect((await execIn(hst.outside, ['ip', 'route', 'get', '10.231.0.2'], { allowFail: true })).code).not.toBe(0);

    // stdin stays open, so the listener holds the connection until the container closes it.
    const listener = spawnTracked(['busybox', 'nc', '-l', '-p', '9201'], { netnsPath: hst.outsidePath, stdin: 'pipe', logFile: join(hst.dir, 'nc-outside.log') });
    onTestFinished(async () => {
      await listener.stop(1_000);
    });
    await waitFor(async () => (await execIn(hst.outside, ['ss', '-Htln', 'sport = :9201'])).stdout.includes('9201'), { what: 'the outside listener', timeoutMs: 5_000 });
    await docker('exec', '-d', 'c1', 'sh', '-c', `(echo hello; sleep 2) | nc ${OUTSIDE_IP} 9201`);
    // Who is connected, as the outside sees it: `ss` prints the peer last, maybe v4-mapped.
    const peer = await waitFor(async () => {
      const line = (await execIn(hst.outside, ['ss', '-Htn', 'state', 'established', 'sport = :9201'])).stdout.trim();
      return line.split(/\s+/).at(-1)?.replace(/^\[(?:::ffff:)?(.*)\]/, '$1');
    }, { what: 'an established connection at the outside listener', timeoutMs: 5_000, intervalMs: 20 });
    expect(peer.replace(/:\d+$/, '')).toBe(HOST_UPLINK_IP);
    await listener.exited;
    expect(listener.output()).toContain('hello');
  });

  test('a port published on the built-in bridge is reachable from outside, from the host and by hairpin', async () => {
    const hst = h();
    await docker('run', '-d', '--name', 'web', '--network', 'hb', '-p', '18080:80', image, 'sh', '-c', 'while true; do echo pong | nc -l -p 80; done');
    // The listener loop has a short gap between two connections, hence a retry around each check.
    const pong = (what: string, argv: () => Promise<{ stdout: string }>) =>
      waitFor(async () => (await argv()).stdout.includes('pong'), { what: `pong ${what}`, timeoutMs: 15_000, intervalMs: 200 });
    // From the outside: DNAT in PREROUTING.
    await pong(`from ${HOST_UPLINK_IP}:18080 seen from the outside`, () =>
      execIn(hst.outside, ['busybox', 'nc', '-w', '2', HOST_UPLINK_IP, '18080'], { allowFail: true, timeoutMs: 5_000 }));
    // From the host itself on loopback: only docker-proxy (the userland proxy) answers there.
    await pong('from 127.0.0.1:18080 inside the host', () =>
      hst.exec(['busybox', 'nc', '-w', '2', '127.0.0.1', '18080'], { allowFail: true, timeoutMs: 5_000 }));
    expect(await processesNamed(hst, 'docker-proxy')).not.toHaveLength(0);
    // Hairpin: another container on the same bridge, through the host address.
    await pong(`from ${HOST_UPLINK_IP}:18080 seen from a container on the same bridge`, () =>
      hst.docker(['exec', 'c2', 'nc', '-w', '2', HOST_UPLINK_IP, '18080'], { allowFail: true, timeoutMs: 10_000 }));
  });

  test('two simulated hosts run side by side, each with its own containerd', async () => {
    const first = h();
    let second: SimulatedHost | undefined;
    onTestFinished(async () => {
      await second?.stop();
    });
    const t0 = Date.now();
    second = await startSimulatedHost({ name: 'harness' });
    timings.push(`second start ${Date.now() - t0} ms`);
    expect(second.netns).not.toBe(first.netns);
    const [a, b] = await Promise.all([first, second].map(async (x) => (await x.docker(['info', '--format', '{{.Name}} {{.ID}}'])).stdout.trim()));
    expect(a).not.toBe(b);
    expect(a?.split(' ')[0]).toBe(first.name);
    expect(b?.split(' ')[0]).toBe(second.name);
    // Each dockerd started a containerd of its own, with its socket under its own exec-root.
    for (const x of [first, second]) expect(existsSync(join(x.dir, 'exec', 'containerd', 'containerd.sock'))).toBe(true);
    const [ca, cb] = await Promise.all([processesNamed(first, 'containerd'), processesNamed(second, 'containerd')]);
    expect(ca).toHaveLength(1);
    expect(cb).toHaveLength(1);
    expect(ca[0]).not.toBe(cb[0]);
    // Both run containers at once.
    await ensureTestImage(second);
    const out = await second.docker(['run', '--rm', image, 'hostname']);
    expect(out.stdout.trim()).toMatch(/^[0-9a-f]{12}$/);
    expect((await first.docker(['ps', '-q'])).stdout.trim().split('\n')).toHaveLength(3);

    const t1 = Date.now();
    const pids = await second.processes();
    await second.stop();
    timings.push(`second stop ${Date.now() - t1} ms`);
    expect(netnsExists(second.netns)).toBe(false);
    expect(await second.processes()).toEqual([]);
    expect(pids.filter(isAlive)).toEqual([]);
    // The first host did not notice.
    expect((await first.docker(['ps', '-q'])).stdout.trim().split('\n')).toHaveLength(3);
  });

  test('stop() also cleans up after a dockerd killed with SIGKILL', async () => {
    let third: SimulatedHost | undefined;
    onTestFinished(async () => {
      await third?.stop();
    });
    third = await startSimulatedHost({ name: 'harness' });
    await ensureTestImage(third);
    await third.docker(['run', '-d', '--name', 'orphan', image, 'sleep', '600']);
    const pids = await third.processes();
    const sleeper = (await processesNamed(third, 'sleep'))[0];
    expect(sleeper).toBeDefined();
    await third.dockerd.kill9();
    await third.stop();
    expect(isAlive(sleeper ?? -1)).toBe(false);
    expect(pids.filter(isAlive)).toEqual([]);
    expect(await third.processes()).toEqual([]);
    expect(netnsExists(third.netns)).toBe(false);
  });

  test('stop() runs every step even when one fails, then rejects naming what is left', async () => {
    // A bind mount inside the host's directory makes its removal fail with EBUSY.
    const source = await mkdtemp(join(tmpdir(), 'tsnet-harness-busy-'));
    let fourth: SimulatedHost | undefined;
    let busy: string | undefined;
    onTestFinished(async () => {
      if (busy) await run(['umount', busy], { allowFail: true });
      if (fourth) await rm(fourth.dir, { recursive: true, force: true });
      await rm(source, { recursive: true, force: true });
    });
    fourth = await startSimulatedHost({ name: 'harness' });
    busy = join(fourth.dir, 'busy');
    await mkdir(busy);
    await run(['mount', '--bind', source, busy]);
    const pids = await fourth.processes();
    expect(pids).toContain(fourth.dockerdPid);
    await expect(fourth.stop()).rejects.toThrow(new RegExp(`teardown left things behind: .*directory ${fourth.dir} is left`));
    // Everything else was still done.
    expect(pids.filter(isAlive)).toEqual([]);
    expect(netnsExists(fourth.netns)).toBe(false);
    expect(netnsExists(fourth.outside)).toBe(false);
    // A second call gives the same outcome rather than a false "all clean".
    await expect(fourth.stop()).rejects.toThrow(/is left/);
  });

  test('stop() removes containers, ends every process the harness started and deletes the namespaces', async () => {
    const hst = h();
    const pids = await hst.processes();
    expect(pids).toContain(hst.dockerdPid);
    const [containerd] = await processesNamed(hst, 'containerd');
    expect(containerd).toBeDefined();
    const t0 = Date.now();
    await hst.stop();
    timings.push(`stop with 3 containers ${Date.now() - t0} ms`);
    await hst.stop(); // idempotent
    expect(isAlive(hst.dockerdPid)).toBe(false);
    expect(isAlive(containerd ?? -1)).toBe(false);
    expect(pids.filter(isAlive)).toEqual([]);
    expect(await hst.processes()).toEqual([]);
    expect(netnsExists(hst.netns)).toBe(false);
    expect(netnsExists(hst.outside)).toBe(false);
    expect(existsSync(hst.dir)).toBe(false);
    expect(existsSync(`/sys/fs/cgroup/pids/${hst.netns}`)).toBe(false);
  });
});
