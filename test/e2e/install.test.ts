import { existsSync, lstatSync, readlinkSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { run, waitFor, type ExecResult } from '../support/exec.js';
import { ensureTestImage } from '../support/image.js';
import { isAlive } from '../support/process.js';
import { startSimulatedHost, type SimulatedHost } from '../support/sim-host.js';
import { REPO } from '../support/tsnet-daemon.js';

// The README's install command, `bash deploy/install.sh`, run in a simulated host: from a copy of
// this checkout (npm ci replaces node_modules, which this very test run is using), with the
// script's environment pointing socket, state, pid file, log and `tsnet` link into the test's
// directory and DOCKER_HOST at the simulated host's dockerd, so the real host is not touched.
// npm works offline from its cache: tests send no traffic off this machine.

let host: SimulatedHost | undefined;
let image: string;
let dir: string | undefined;
let daemonPid: number | undefined;

afterAll(async () => {
  if (host) {
    const ids = (await host.docker(['ps', '-aq'], { allowFail: true })).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await host.docker(['rm', '-f', ...ids], { allowFail: true });
  }
  // The daemon the script started, by the PID it recorded, if the test did not get to stop it.
  if (daemonPid !== undefined && isAlive(daemonPid)) {
    process.kill(daemonPid, 'SIGTERM');
    await waitFor(() => !isAlive(daemonPid ?? -1), { what: 'the installed tsnet to stop', timeoutMs: 10_000 }).catch(() => {
      if (daemonPid !== undefined && isAlive(daemonPid)) process.kill(daemonPid, 'SIGKILL');
    });
  }
  await host?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

beforeAll(async () => {
  host = await startSimulatedHost({ name: 'install' });
  image = await ensureTestImage(host);
  dir = await mkdtemp(join(tmpdir(), 'tsnet-install-'));
  // The checkout's files as git sees them (tracked, and new files not ignored): no node_modules, no dist.
  const files = (await run(['git', '-C', REPO, 'ls-files', '-co', '--exclude-standard', '-z'])).stdout.split('\0').filter(Boolean);
  for (const file of files) {
    if (!existsSync(join(REPO, file))) continue; // deleted in the work tree
    await mkdir(dirname(join(dir, 'repo', file)), { recursive: true });
    await copyFile(join(REPO, file), join(dir, 'repo', file));
  }
});

const h = (): SimulatedHost => {
  if (!host) throw new Error('the simulated host did not start');
  return host;
};
const paths = () => {
  if (!dir) throw new Error('no test directory');
  return {
    repo: join(dir, 'repo'),
    socket: join(h().pluginsDir, 'tsnet.sock'),
    state: join(dir, 'state'),
    bin: join(dir, 'bin'),
    pid: join(dir, 'run', 'tsnet.pid'),
    log: join(dir, 'log', 'tsnet.log'),
  };
};
/** `bash deploy/install.sh ARGS` in the simulated host's network namespace. */
const installSh = (args: readonly string[] = []): Promise<ExecResult> => {
  const p = paths();
  const env = {
    ...process.env,
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
    TSNET_SOCKET: p.socket,
    TSNET_STATE_DIR: p.state,
    TSNET_BIN_DIR: p.bin,
    TSNET_INIT: 'background',
    TSNET_PID_FILE: p.pid,
    TSNET_LOG_FILE: p.log,
    DOCKER_HOST: `unix://${h().socketPath}`,
    npm_config_offline: 'true',
  };
  return run(['nsenter', `--net=${h().netnsPath}`, 'bash', join(p.repo, 'deploy', 'install.sh'), ...args], { env, allowFail: true, timeoutMs: 600_000 });
};
const docker = (...args: string[]) => h().docker(args);
const tsnetLinks = async () => (await h().exec(['ip', '-o', 'link', 'show'])).stdout.split('\n').filter((l) => /^\d+: tsn[a-z]-/.test(l));
const tsnetRules = async () => {
  const v4 = (await h().exec(['iptables-save'])).stdout;
  const v6 = (await h().exec(['ip6tables-save'])).stdout;
  return `${v4}${v6}`.split('\n').filter((l) => l.includes('TSNET'));
};

describe('deploy/install.sh on a simulated host', () => {
  test('installs and starts tsnet; tsnet networks work; re-running upgrades in place without a lost packet; --uninstall --purge leaves nothing behind', async () => {
    const p = paths();
    const installed = await installSh();
    expect(installed.code, `install.sh failed:\n${installed.stdout}\n${installed.stderr}`).toBe(0);
    expect(installed.stdout).toContain('tsnet is running');

    // The daemon: alive, in the simulated host's network namespace, answering on the socket.
    daemonPid = Number((await readFile(p.pid, 'utf8')).trim());
    expect(isAlive(daemonPid)).toBe(true);
    expect(statSync(`/proc/${daemonPid}/ns/net`).ino).toBe(statSync(h().netnsPath).ino);
    expect(lstatSync(p.socket).isSocket()).toBe(true);
    // The command is linked and runs.
    expect(readlinkSync(join(p.bin, 'tsnet'))).toBe(join(p.repo, 'dist', 'src', 'cli.js'));
    expect((await run([join(p.bin, 'tsnet'), 'version'])).stdout).toMatch(/\d+\.\d+\.\d+/);

    // What the README promises next: a tsnet network, and containers on it that talk.
    await docker('network', 'create', '-d', 'tsnet', '--subnet', '10.232.30.0/24', 'inst');
    await docker('run', '-d', '--name', 'c1', '--network', 'inst', image, 'sleep', '600');
    await docker('run', '-d', '--name', 'c2', '--network', 'inst', image, 'sleep', '600');
    const c2 = (await docker('inspect', '-f', '{{(index .NetworkSettings.Networks "inst").IPAddress}}', 'c2')).stdout.trim();
    expect(c2).toMatch(/^10\.232\.30\./);
    await waitFor(async () => (await h().docker(['exec', 'c1', 'ping', '-c', '1', '-W', '2', c2], { allowFail: true })).code === 0, { what: 'c1 to ping c2', timeoutMs: 20_000, intervalMs: 300 });
    await waitFor(async () => (await h().docker(['exec', 'c2', 'ping', '-c', '1', '-W', '2', 'c1'], { allowFail: true })).code === 0, { what: 'c2 to ping c1 by name', timeoutMs: 20_000, intervalMs: 300 });
    expect(await tsnetLinks()).not.toEqual([]);
    expect(await tsnetRules()).not.toEqual([]);
    // The operator's view through the linked command: Docker's names, asked of the Docker the daemon serves.
    const networks = await run([join(p.bin, 'tsnet'), 'network', 'inst', '--json', '--state-dir', p.state]);
    expect(JSON.parse(networks.stdout)).toMatchObject({ name: 'inst', type: 'bridge' });
    expect(lstatSync(join(p.state, 'admin.sock')).mode & 0o777).toBe(0o600);

    // Re-running the install command upgrades in place: a new build (another version number in
    // the copy's package.json) replaces the daemon, while c1 pings c2 throughout without a loss.
    const pkgPath = join(p.repo, 'package.json');
    const pkg = JSON.parse(await readFile(pkgPath, 'utf8')) as { version: string };
    const upgraded = `${pkg.version}-upgrade.1`;
    await writeFile(pkgPath, JSON.stringify({ ...pkg, version: upgraded }, null, 2));
    await h().docker(['exec', '-d', 'c1', 'sh', '-c', `ping -i 0.2 ${c2} > /tmp/upgrade-ping.txt 2>&1 & echo $! > /tmp/upgrade-ping.pid; wait`]);
    const pingStarted = Date.now();
    const oldPid = daemonPid;
    const again = await installSh();
    expect(again.code, `re-running install.sh failed:\n${again.stdout}\n${again.stderr}`).toBe(0);
    daemonPid = Number((await readFile(p.pid, 'utf8')).trim());
    expect(daemonPid).not.toBe(oldPid);
    expect(isAlive(oldPid ?? -1)).toBe(false);
    const status = JSON.parse((await run([join(p.bin, 'tsnet'), 'status', '--json', '--state-dir', p.state])).stdout) as { version: string };
    expect(status.version).toBe(upgraded);
    // Networks and addresses kept: the same network with both endpoints, c2 at the same address.
    const kept = JSON.parse((await run([join(p.bin, 'tsnet'), 'network', 'inst', '--json', '--state-dir', p.state])).stdout) as { endpoints: unknown[] };
    expect(kept.endpoints).toHaveLength(2);
    expect((await docker('inspect', '-f', '{{(index .NetworkSettings.Networks "inst").IPAddress}}', 'c2')).stdout.trim()).toBe(c2);
    // A second more on the new daemon, then SIGINT: ping prints its totals.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await h().docker(['exec', 'c1', 'sh', '-c', 'kill -INT "$(cat /tmp/upgrade-ping.pid)"']);
    const ping = await waitFor(async () => {
      const out = (await h().docker(['exec', 'c1', 'cat', '/tmp/upgrade-ping.txt'], { allowFail: true })).stdout;
      return /packets transmitted/.test(out) && out;
    }, { what: 'the ping across the upgrade to print its totals', timeoutMs: 20_000, intervalMs: 500 });
    const [, sent, received] = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(ping) ?? [];
    expect(Number(sent)).toBeGreaterThan(((Date.now() - pingStarted) / 200) * 0.5); // it ran through the whole upgrade
    expect(received, ping).toBe(sent);
    // And the upgraded daemon serves new containers on the old network.
    await docker('run', '-d', '--name', 'c3', '--network', 'inst', image, 'sleep', '600');
    await waitFor(async () => (await h().docker(['exec', 'c3', 'ping', '-c', '1', '-W', '2', 'c1'], { allowFail: true })).code === 0, { what: 'c3 to ping c1 after the upgrade', timeoutMs: 20_000, intervalMs: 300 });

    // Uninstalling while Docker still has a tsnet network is refused, and changes nothing.
    const refused = await installSh(['--uninstall', '--purge']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('Docker still has tsnet networks: inst');
    expect(isAlive(daemonPid)).toBe(true);
    expect(existsSync(p.state)).toBe(true);

    await docker('rm', '-f', 'c1', 'c2', 'c3');
    await docker('network', 'rm', 'inst');
    const removed = await installSh(['--uninstall', '--purge']);
    expect(removed.code, `uninstall failed:\n${removed.stdout}\n${removed.stderr}`).toBe(0);
    expect(removed.stdout).toContain('tsnet is uninstalled');
    // Nothing behind: no process, socket, pid file, command, state, log, link or firewall rule.
    expect(isAlive(daemonPid)).toBe(false);
    for (const path of [p.socket, p.pid, join(p.bin, 'tsnet'), p.state, p.log]) expect(existsSync(path), path).toBe(false);
    expect(await tsnetLinks()).toEqual([]);
    expect(await tsnetRules()).toEqual([]);
  });
});
