import { existsSync, lstatSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { run, waitFor, type ExecResult } from '../support/exec.js';
import { ensureTestImage } from '../support/image.js';
import { spawnTracked, type Tracked } from '../support/process.js';
import { DOCKER_CLIENT, startSimulatedHost, type SimulatedHost } from '../support/sim-host.js';
import { ensureBuilt, REPO } from '../support/tsnet-daemon.js';

// tsnet as a Docker managed plugin (README "Installing as a Docker managed plugin"), in a
// simulated host: deploy/plugin/build.sh makes the plugin directory, install-plugin.sh creates
// and enables it in the simulated host's dockerd with the state, admin-socket and Docker-socket
// mounts pointed into the test's directory, and then the plugin's life: networks, traffic,
// published ports, disable/enable, a dockerd restart, `docker plugin upgrade` (through a
// registry on the simulated host's loopback), removal refused while networks exist, and the
// documented removal order leaving no link or rule behind.

const VERSION = (JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const PLUGIN = `tsnet:${VERSION}`;
const REGISTRY = '127.0.0.1:5000';
const UPGRADE_REF = `${REGISTRY}/tsnet:${VERSION}-b`;
const SUBNET = '10.232.40.0/24';

let host: SimulatedHost | undefined;
let image: string;
let dir: string | undefined;
let registry: Tracked | undefined;

afterAll(async () => {
  if (host) {
    const ids = (await host.docker(['ps', '-aq'], { allowFail: true })).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await host.docker(['rm', '-f', ...ids], { allowFail: true, timeoutMs: 60_000 });
    await host.docker(['network', 'rm', 'mp'], { allowFail: true });
    for (const name of [PLUGIN, UPGRADE_REF]) {
      await host.docker(['plugin', 'disable', '-f', name], { allowFail: true });
      await host.docker(['plugin', 'rm', '-f', name], { allowFail: true });
    }
  }
  await registry?.stop(5_000);
  await host?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

beforeAll(async () => {
  host = await startSimulatedHost({ name: 'mplugin' });
  image = await ensureTestImage(host);
  dir = await mkdtemp(join(tmpdir(), 'tsnet-mplugin-'));
  await ensureBuilt();
});

const h = (): SimulatedHost => {
  if (!host) throw new Error('the simulated host did not start');
  return host;
};
const paths = () => {
  if (!dir) throw new Error('no test directory');
  return { dir, pluginA: join(dir, 'plugin-a'), pluginB: join(dir, 'plugin-b'), state: join(dir, 'state'), run: join(dir, 'run') };
};
const docker = (...args: string[]) => h().docker(args);
const tryDocker = (...args: string[]) => h().docker(args, { allowFail: true });
const fails = async (args: string[], pattern: RegExp): Promise<string> => {
  const r = await tryDocker(...args);
  expect(r.code, `docker ${args.join(' ')} should fail, printed: ${r.stdout}`).not.toBe(0);
  expect(r.stderr).toMatch(pattern);
  return r.stderr.trim();
};
/** The deploy scripts, with this test's directories and the simulated host's dockerd. */
const script = (name: string, args: readonly string[]): Promise<ExecResult> =>
  run(['bash', join(REPO, 'deploy', 'plugin', name), ...args], {
    allowFail: true,
    timeoutMs: 600_000,
    env: {
      ...process.env,
      PATH: `${join(process.execPath, '..')}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
      TSNET_PLUGIN_SKIP_BUILD: '1', // ensureBuilt() did it; build.sh must not rebuild the dist this run uses
      TSNET_STATE_DIR: paths().state,
      TSNET_RUN_DIR: paths().run,
      TSNET_ETCD_TLS_DIR: join(paths().dir, 'etcd-tls'),
      DOCKER_EXEC_ROOT: join(h().dir, 'exec'),
      DOCKER_HOST: `unix://${h().socketPath}`,
      DOCKER: DOCKER_CLIENT,
      npm_config_offline: 'true',
    },
  });
const ipOf = async (container: string) => (await docker('inspect', '-f', '{{(index .NetworkSettings.Networks "mp").IPAddress}}', container)).stdout.trim();
const pings = (from: string, to: string) =>
  waitFor(async () => (await tryDocker('exec', from, 'ping', '-c', '1', '-W', '2', to)).code === 0, { what: `${from} to ping ${to}`, timeoutMs: 30_000, intervalMs: 300 });
/** The published port 127.0.0.1:18440 answers, from the simulated host itself. */
const publishedAnswers = (from: string) =>
  waitFor(async () => (await h().exec(['busybox', 'nc', '-w', '2', '127.0.0.1', '18440'], { allowFail: true, timeoutMs: 10_000 })).stdout.includes(`tcp-from-${from}`), { what: `127.0.0.1:18440 to answer from ${from}`, timeoutMs: 30_000, intervalMs: 300 });
const server = (name: string, ...extra: string[]) =>
  docker('run', '-d', '--name', name, '--network', 'mp', '--restart', 'always', '--stop-timeout', '1', ...extra, image,
    'sh', '-c', `while true; do echo tcp-from-${name} | nc -l -p 7000; done`);
const tsnetLinks = async () => (await h().exec(['ip', '-o', 'link', 'show'])).stdout.split('\n').filter((l) => /^\d+: tsn[a-z]-/.test(l));
const tsnetRules = async () => {
  const v4 = (await h().exec(['iptables-save'])).stdout;
  const v6 = (await h().exec(['ip6tables-save'])).stdout;
  return `${v4}${v6}`.split('\n').filter((l) => l.includes('TSNET'));
};
/** PIDs of the plugin's tsnet daemon: `node …/cli.js daemon` in the simulated host's network namespace. */
const pluginDaemons = async () => {
  const pids = await h().processes();
  const cmdlines = await Promise.all(pids.map((pid) => readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')));
  return pids.filter((_, i) => cmdlines[i]?.includes('/opt/tsnet/dist/src/cli.js'));
};
const enabled = async (name: string) => (await docker('plugin', 'inspect', '-f', '{{.Enabled}}', name)).stdout.trim();
/** tsnet's own view through the admin socket the plugin serves in the run mount. */
const tsnetView = async (...args: string[]) =>
  JSON.parse((await run([process.execPath, join(REPO, 'dist/src/cli.js'), ...args, '--json', '--admin-socket', join(paths().run, 'admin.sock')])).stdout) as unknown;

describe(`tsnet as a Docker managed plugin (${PLUGIN})`, () => {
  test('build.sh makes a plugin directory; install-plugin.sh creates and enables it', async () => {
    const built = await script('build.sh', [paths().pluginA]);
    expect(built.code, `build.sh failed:\n${built.stdout}\n${built.stderr}`).toBe(0);
    const config = JSON.parse(await readFile(join(paths().pluginA, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({
      interface: { types: ['docker.networkdriver/1.0', 'docker.ipamdriver/1.0'], socket: 'tsnet.sock' },
      network: { type: 'host' },
      linux: { capabilities: ['CAP_NET_ADMIN', 'CAP_NET_RAW'] },
    });
    const mounts = (config.mounts as Array<{ name: string; destination: string; options: string[] }>);
    // Docker's exec-root without its netns mounts (bind, not rbind): a copy of those would keep
    // containers' network namespaces alive inside the plugin.
    expect(mounts.find((m) => m.name === 'docker-exec-root')).toMatchObject({ destination: '/host/docker', options: ['bind', 'ro'] });
    expect(mounts.find((m) => m.name === 'etcd-tls')).toMatchObject({ destination: '/etc/tsnet/etcd', options: ['rbind', 'ro'] });
    // The plugin's iptables uses the backend of the host's (Docker's rules and tsnet's must share one).
    const hostBackend = (await run(['iptables', '-V'])).stdout.includes('nf_tables') ? 'nft' : 'legacy';
    expect((await readFile(join(paths().pluginA, 'rootfs/opt/tsnet/iptables-backend'), 'utf8')).trim()).toBe(hostBackend);

    const installed = await script('install-plugin.sh', [paths().pluginA]);
    expect(installed.code, `install-plugin.sh failed:\n${installed.stdout}\n${installed.stderr}\n--- dockerd ---\n${h().logs().slice(-4000)}`).toBe(0);
    expect(installed.stdout).toContain(`plugin ${PLUGIN} is enabled`);
    expect(await enabled(PLUGIN)).toBe('true');
    // The daemon runs in the simulated host's network namespace and serves its admin socket in the run mount.
    await waitFor(() => existsSync(join(paths().run, 'admin.sock')), { what: 'the plugin\'s admin socket', timeoutMs: 20_000 });
    expect(lstatSync(join(paths().run, 'admin.sock')).mode & 0o777).toBe(0o600);
    expect(await pluginDaemons()).toHaveLength(1);
    expect(existsSync(join(paths().state, 'wal.log')) || existsSync(join(paths().state, 'LOCK'))).toBe(true);
  });

  test('a network of the plugin: containers ping each other, a published port answers on loopback', async () => {
    // Both of the plugin's interfaces: the network driver and the IPAM driver.
    await docker('network', 'create', '-d', PLUGIN, '--ipam-driver', PLUGIN, '--subnet', SUBNET, 'mp');
    expect((await docker('network', 'inspect', '-f', '{{.Driver}} {{.IPAM.Driver}}', 'mp')).stdout.trim()).toBe(`${PLUGIN} ${PLUGIN}`);
    await server('c1', '--ip', '10.232.40.10', '-p', '127.0.0.1:18440:7000');
    await server('c2');
    const [ip1, ip2] = [await ipOf('c1'), await ipOf('c2')];
    expect(ip1).toMatch(/^10\.232\.40\./);
    expect(ip2).toMatch(/^10\.232\.40\./);
    await pings('c1', ip2);
    await pings('c2', 'c1'); // by name: Docker's embedded DNS
    await publishedAnswers('c1');
    expect(await tsnetLinks()).not.toEqual([]);
    expect((await tsnetRules()).some((r) => r.includes('--dport 18440'))).toBe(true);
    // tsnet inside the plugin asks Docker (through the docker-socket mount) for names.
    expect(await tsnetView('network', 'mp')).toMatchObject({ name: 'mp', type: 'bridge' });
  });

  test('the plugin sees which sandboxes exist (docker-exec-root mount), without holding their namespaces', async () => {
    const [daemon] = await pluginDaemons();
    if (daemon === undefined) throw new Error('the plugin\'s daemon is not running');
    await docker('run', '-d', '--name', 'brief', '--network', 'mp', image, 'sleep', '300');
    const sandboxKey = (await docker('inspect', '-f', '{{.NetworkSettings.SandboxKey}}', 'brief')).stdout.trim();
    // What the daemon sees at TSNET_DOCKER_NETNS_DIR, through its own mount namespace.
    const seen = `/proc/${daemon}/root/host/docker/netns/${basename(sandboxKey)}`;
    expect(existsSync(seen), `${seen} should exist while the container runs`).toBe(true);
    const netnsMounts = (await readFile(`/proc/${daemon}/mountinfo`, 'utf8')).split('\n').filter((l) => l.includes(basename(sandboxKey)));
    expect(netnsMounts, 'the plugin must not hold a copy of the container\'s netns mount').toEqual([]);
    await docker('rm', '-f', 'brief');
    // libnetwork deletes a sandbox's file in its garbage collection, up to a minute later; the
    // plugin's view follows the host's.
    await waitFor(() => !existsSync(sandboxKey), { what: `dockerd to delete ${sandboxKey}`, timeoutMs: 90_000, intervalMs: 500 });
    expect(existsSync(seen), `${seen} should be gone as ${sandboxKey} is`).toBe(false);
  });

  test('disable is refused while networks use the plugin; disable -f keeps the data path; enable again serves', async () => {
    const ip2 = await ipOf('c2');
    const refused = await fails(['plugin', 'disable', PLUGIN], /in use/);
    console.log(`docker plugin disable with a network present: ${refused}`);
    expect(await enabled(PLUGIN)).toBe('true');

    // Removing it is refused too: an enabled plugin first, and a disabled one while networks use it.
    const rmEnabled = await fails(['plugin', 'rm', PLUGIN], /is in use/);
    console.log(`docker plugin rm with a network present: ${rmEnabled}`);

    await docker('plugin', 'disable', '-f', PLUGIN);
    expect(await enabled(PLUGIN)).toBe('false');
    const rmInUse = await fails(['plugin', 'rm', PLUGIN], /is in use/);
    console.log(`docker plugin rm of the disabled plugin with a network present: ${rmInUse}`);
    await waitFor(async () => (await pluginDaemons()).length === 0, { what: 'the plugin daemon to stop', timeoutMs: 20_000 });
    // What Docker does: the network and containers stay, the kernel keeps forwarding (tsnet
    // leaves links and rules in place when it stops), and nothing new can use the driver.
    expect((await docker('network', 'ls', '--format', '{{.Name}}')).stdout).toContain('mp');
    await pings('c1', ip2);
    await publishedAnswers('c1');
    const noDriver = await tryDocker('run', '--rm', '--network', 'mp', image, 'true');
    expect(noDriver.code).not.toBe(0);
    console.log(`docker run on a network of the disabled plugin: ${noDriver.stderr.trim().split('\n')[0]}`);

    await docker('plugin', 'enable', PLUGIN);
    expect(await enabled(PLUGIN)).toBe('true');
    await docker('run', '--rm', '--network', 'mp', image, 'ping', '-c', '1', '-W', '2', ip2);
    await pings('c2', 'c1');
  });

  test('dockerd restart: the plugin comes back with dockerd, and the network and containers work', async () => {
    await h().restartDockerd();
    expect(await enabled(PLUGIN)).toBe('true');
    await waitFor(async () => (await tryDocker('inspect', '-f', '{{.State.Running}}', 'c1', 'c2')).stdout.trim() === 'true\ntrue', { what: 'c1 and c2 to be restarted', timeoutMs: 60_000, intervalMs: 500 });
    expect(await pluginDaemons()).toHaveLength(1);
    // Docker stopped the containers and started them again: c1 gets its --ip back, c2 an address of the pool.
    expect(await ipOf('c1')).toBe('10.232.40.10');
    expect(await ipOf('c2')).toMatch(/^10\.232\.40\./);
    await pings('c1', await ipOf('c2'));
    await pings('c2', 'c1');
    await publishedAnswers('c1');
    // What Docker does (20.10 and 28.5 alike): it counts a plugin's users only as networks are
    // created and removed in its run, so after a restart it no longer knows the network uses
    // the plugin, and a plain disable (and then rm) goes through. install-plugin.sh --uninstall
    // asks Docker for the plugin's networks instead, so it still refuses (last test).
    const disable = await tryDocker('plugin', 'disable', PLUGIN);
    console.log(`after a dockerd restart, docker plugin disable with a network present: exit ${disable.code} ${disable.stderr.trim()}`);
    expect(disable.code).toBe(0);
    await docker('plugin', 'enable', PLUGIN);
    await pings('c2', 'c1');
  });

  test('docker plugin upgrade to a second build keeps the network and the addresses', async () => {
    const registryBin = ['/var/cache/tsnet/docker-registry/usr/bin/docker-registry', '/usr/bin/docker-registry'].find((f) => existsSync(f));
    if (!registryBin) {
      console.log('SKIP: docker plugin upgrade not tested: Docker upgrades a plugin only from a registry, and Debian\'s docker-registry (unpacked into /var/cache/tsnet/docker-registry by deploy/prerequisites.sh --test) is missing');
      return;
    }
    // A registry on the simulated host's loopback (Docker trusts 127.0.0.0/8 over plain HTTP).
    await writeFile(join(paths().dir, 'registry.yml'), [
      'version: 0.1',
      'log: { level: warn }',
      `storage: { filesystem: { rootdirectory: ${join(paths().dir, 'registry')} } }`,
      `http: { addr: "${REGISTRY}" }`,
      '',
    ].join('\n'));
    registry = spawnTracked([registryBin, 'serve', join(paths().dir, 'registry.yml')], { netnsPath: h().netnsPath, logFile: join(paths().dir, 'registry.log') });
    await waitFor(async () => (await h().exec(['curl', '-sf', `http://${REGISTRY}/v2/`], { allowFail: true })).code === 0, { what: 'the registry to answer', timeoutMs: 20_000, intervalMs: 200 });

    // The second build: the same rootfs with a build id (Docker refuses a layer it already
    // has under another plugin), and a description that tells it apart.
    await run(['cp', '-a', paths().pluginA, paths().pluginB]);
    await writeFile(join(paths().pluginB, 'rootfs/opt/tsnet/build-id'), 'b\n');
    const configB = JSON.parse(await readFile(join(paths().pluginB, 'config.json'), 'utf8')) as { description: string };
    configB.description = `${configB.description} (build b)`;
    await writeFile(join(paths().pluginB, 'config.json'), JSON.stringify(configB, null, 2));
    await docker('plugin', 'create', UPGRADE_REF, paths().pluginB);
    await docker('plugin', 'push', UPGRADE_REF);
    await docker('plugin', 'rm', UPGRADE_REF);

    const before = { c1: await ipOf('c1'), c2: await ipOf('c2') };
    const mountSources = async () => JSON.parse((await docker('plugin', 'inspect', '-f', '{{json .Config.Mounts}}', PLUGIN)).stdout) as Array<{ Name: string; Source: string }>;
    const stateSource = async () => (await mountSources()).find((m) => m.Name === 'state')?.Source;
    expect(await stateSource()).toBe(paths().state);
    // Docker upgrades only a disabled plugin.
    await fails(['plugin', 'upgrade', '--grant-all-permissions', '--skip-remote-check', PLUGIN, UPGRADE_REF], /disabled/);
    // install-plugin.sh --upgrade: disable -f, docker plugin upgrade, mount sources, enable.
    const upgraded = await script('install-plugin.sh', ['--upgrade', UPGRADE_REF]);
    expect(upgraded.code, `install-plugin.sh --upgrade failed:\n${upgraded.stdout}\n${upgraded.stderr}`).toBe(0);
    // What Docker does on upgrade (20.10 and 28.5): the new config's mount sources replace the
    // ones set with `docker plugin set` (which .Settings.Mounts still shows), so the script sets them again.
    expect(upgraded.stdout).toContain('docker plugin upgrade reset the state mount to /var/lib/tsnet; setting the mount sources again');
    expect(upgraded.stdout).toContain(`plugin ${PLUGIN} is upgraded to ${UPGRADE_REF} and enabled`);
    expect(await stateSource()).toBe(paths().state);
    expect((await docker('plugin', 'inspect', '-f', '{{.Config.Description}}', PLUGIN)).stdout).toContain('(build b)');
    expect((await docker('plugin', 'inspect', '-f', '{{.PluginReference}}', PLUGIN)).stdout.trim()).toContain(UPGRADE_REF.split(':')[0] ?? '');

    expect((await docker('network', 'inspect', '-f', '{{(index .IPAM.Config 0).Subnet}}', 'mp')).stdout.trim()).toBe(SUBNET);
    expect({ c1: await ipOf('c1'), c2: await ipOf('c2') }).toEqual(before);
    await pings('c1', before.c2);
    await publishedAnswers('c1');
    await server('c3');
    await pings('c3', 'c2');
    expect(await tsnetView('network', 'mp')).toMatchObject({ name: 'mp' });
  });

  test('removal is refused while networks exist; containers, networks, disable, rm leaves nothing', async () => {
    const refused = await fails(['plugin', 'rm', PLUGIN], /is enabled/);
    console.log(`docker plugin rm with a network present: ${refused}`);
    const byScript = await script('install-plugin.sh', ['--uninstall']);
    expect(byScript.code).toBe(1);
    expect(byScript.stderr).toContain(`Docker still has networks of ${PLUGIN}: mp`);
    expect(await enabled(PLUGIN)).toBe('true');

    // The documented order.
    const ids = (await docker('ps', '-aq', '--filter', 'network=mp')).stdout.split('\n').filter(Boolean);
    await docker('rm', '-f', ...ids);
    await docker('network', 'rm', 'mp');
    const removed = await script('install-plugin.sh', ['--uninstall']);
    expect(removed.code, `uninstall failed:\n${removed.stdout}\n${removed.stderr}`).toBe(0);
    expect((await docker('plugin', 'ls', '--format', '{{.Name}}')).stdout.trim()).toBe('');
    expect(await pluginDaemons()).toEqual([]);
    expect(await tsnetLinks()).toEqual([]);
    expect(await tsnetRules()).toEqual([]);
    expect(existsSync(join(paths().run, 'admin.sock')), `the plugin's stop left its admin socket; dockerd's log:\n${h().logs().slice(-4000)}`).toBe(false);
  });
});
