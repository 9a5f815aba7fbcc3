import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { ExecResult } from '../support/exec.js';
import { ensureTestImage } from '../support/image.js';
import { startSimulatedHost, type SimulatedHost } from '../support/sim-host.js';
import { stopHostAndTsnet } from '../support/teardown.js';
import { REPO, startTsnetDaemon, type TsnetDaemon } from '../support/tsnet-daemon.js';
import { waitFor } from '../support/exec.js';
import { spawnTracked } from '../support/process.js';

// The conformance kit's real-Docker mode (issue 11): the built standalone command, run inside a
// simulated host's network namespace (so 127.0.0.1 is that host's loopback, where dockerd
// publishes ports), drives tsnet through that host's dockerd. afterAll removes containers, stops
// tsnet by PID and then the host, whatever the tests did.

let host: SimulatedHost | undefined;
let tsnet: TsnetDaemon | undefined;
let image = '';

beforeAll(async () => {
  host = await startSimulatedHost({ name: 'confdock' });
  tsnet = await startTsnetDaemon(host);
  image = await ensureTestImage(host);
});
afterAll(() => stopHostAndTsnet(host, tsnet));

const DOCKER_CHECKS = 'docker.network-create,docker.ping,docker.ipv6,docker.ping6,docker.publish,docker.cleanup';

/** `node dist/plugin-spec/conformance/cli.js …` in the host's namespace; the result whatever the exit. */
function kit(args: string[], dockerHost = `unix://${(host as SimulatedHost).socketPath}`): Promise<ExecResult> {
  return (host as SimulatedHost).exec([process.execPath, join(REPO, 'dist/plugin-spec/conformance/cli.js'), '--socket', (tsnet as TsnetDaemon).socketPath,
    '--docker-host', dockerHost, '--netns', 'self', ...args], { allowFail: true, timeoutMs: 240_000 });
}

/** What the host has that the kit could have left: links, networks, containers. */
async function hostState(): Promise<{ links: string[]; networks: string[]; containers: string[] }> {
  const h = host as SimulatedHost;
  const lines = async (argv: string[]) => (await h.docker(argv)).stdout.split('\n').filter(Boolean).sort();
  return {
    links: (await h.exec(['ip', '-o', 'link', 'show'])).stdout.split('\n').filter(Boolean).map((l) => l.split(': ')[1]?.split('@')[0] ?? '').sort(),
    networks: await lines(['network', 'ls', '--format', '{{.Name}}']),
    containers: await lines(['ps', '-aq']),
  };
}

// The mode's default subnets, 10.198.0.0/24 and fd5c:6e65:7443::/64, and the moved ones below
// (10.250.7.0/24, fd5c:6e65:7444::/64) clash with no other e2e file's (10.23x, fd00:23x:…).
test('tsnet passes the real-Docker mode: a dual-stack network, pings between two containers over IPv4 and IPv6, a published port, nothing left', async () => {
  const before = await hostState();
  const started = Date.now();
  const result = await kit(['--image', image, '--only', DOCKER_CHECKS]);
  console.log(`real-Docker mode against tsnet: ${((Date.now() - started) / 1000).toFixed(1)} s\n${result.stdout}${result.stderr}`);
  const output = result.stdout + result.stderr;
  expect(result.stdout).toMatch(/^docker\.network-create +PASS {2}network c0f0-conformance-[0-9a-f]{8}, driver tsnet, IPAM tsnet$/m);
  expect(result.stdout).toMatch(/^docker\.ping +PASS {2}container 2 reached container 1 at 10\.198\.0\.\d+$/m);
  expect(result.stdout).toMatch(/^docker\.ipv6 +PASS {2}container 1 got fd5c:6e65:7443::[0-9a-f:]+ in fd5c:6e65:7443::\/64$/m);
  expect(result.stdout).toMatch(/^docker\.ping6 +PASS {2}container 2 reached container 1 at fd5c:6e65:7443::[0-9a-f:]+$/m);
  expect(result.stdout).toMatch(/^docker\.publish +PASS {2}127\.0\.0\.1:17198 answered "hello from c0f0"$/m);
  expect(result.stdout).toMatch(/^docker\.cleanup +PASS {2}removed; \d+ interfaces as before, bridge \S+ gone$/m);
  expect(result.stdout.trimEnd().split('\n').at(-1), output).toBe('6 passed, 0 failed, 0 skipped');
  expect(result.code, output).toBe(0);
  expect(await hostState()).toEqual(before);
});

test('--docker-subnet, --docker-subnet6 and --docker-port move the network and the published port, for a host where the defaults are taken', async () => {
  const before = await hostState();
  const result = await kit(['--image', image, '--only', DOCKER_CHECKS, '--docker-subnet', '10.250.7.0/24', '--docker-subnet6', 'fd5c:6e65:7444::/64', '--docker-port', '27198']);
  const output = result.stdout + result.stderr;
  expect(result.stdout).toMatch(/^docker\.ping +PASS {2}container 2 reached container 1 at 10\.250\.7\.\d+$/m);
  expect(result.stdout).toMatch(/^docker\.ping6 +PASS {2}container 2 reached container 1 at fd5c:6e65:7444::[0-9a-f:]+$/m);
  expect(result.stdout).toMatch(/^docker\.publish +PASS {2}127\.0\.0\.1:27198 answered "hello from c0f0"$/m);
  expect(result.stdout.trimEnd().split('\n').at(-1), output).toBe('6 passed, 0 failed, 0 skipped');
  expect(result.code, output).toBe(0);
  expect(await hostState()).toEqual(before);
});

test('--docker-ipv6 off: an IPv4-only network; docker.ipv6 and docker.ping6 are SKIPs saying so, the rest pass', async () => {
  const before = await hostState();
  const result = await kit(['--image', image, '--only', DOCKER_CHECKS, '--docker-ipv6', 'off']);
  const output = result.stdout + result.stderr;
  for (const id of ['ipv6', 'ping6']) expect(result.stdout).toMatch(new RegExp(`^docker\\.${id} +SKIP {2}--docker-ipv6 off: the network is IPv4-only$`, 'm'));
  expect(result.stdout).toMatch(/^docker\.ping +PASS {2}container 2 reached container 1 at 10\.198\.0\.\d+$/m);
  expect(result.stdout.trimEnd().split('\n').at(-1), output).toBe('4 passed, 0 failed, 2 skipped');
  expect(result.code, output).toBe(0);
  expect(await hostState()).toEqual(before);
});

test('the whole kit with the real-Docker mode, as a plugin author runs it: nothing fails, nothing is skipped, nothing left', async () => {
  const before = await hostState();
  const result = await kit(['--image', image]);
  const output = result.stdout + result.stderr;
  expect(result.stdout.trimEnd().split('\n').at(-1), output).toMatch(/^\d+ passed, 0 failed, 0 skipped$/);
  expect(result.code, output).toBe(0);
  expect(await hostState()).toEqual(before);
});

test('an image the dockerd does not have: docker.ping fails saying so (nothing pulled), publish is a SKIP naming it, and the network is removed', async () => {
  const before = await hostState();
  const result = await kit(['--image', 'c0f0-no-such-image:latest', '--only', DOCKER_CHECKS]);
  const output = result.stdout + result.stderr;
  expect(result.stdout, output).toMatch(/^docker\.network-create +PASS/m);
  expect(result.stdout).toMatch(/^docker\.ping +FAIL {2}image c0f0-no-such-image:latest is not in this dockerd, and the kit never pulls: load it there first/m);
  for (const id of ['ipv6', 'ping6', 'publish']) expect(result.stdout).toMatch(new RegExp(`^docker\\.${id} +SKIP {2}starting container 1 failed in docker\\.ping \\(see its line\\): image c0f0-no-such-image:latest is not in this dockerd`, 'm'));
  expect(result.stdout).toMatch(/^docker\.cleanup +PASS {2}removed; /m);
  expect(result.stdout.trimEnd().split('\n').at(-1)).toBe('2 passed, 1 failed, 3 skipped');
  expect(result.code).toBe(1);
  expect(await hostState()).toEqual(before);
});

test('Ctrl-C during the run: the kit removes the network and containers it made, reports interrupted and exits 130', async () => {
  const h = host as SimulatedHost;
  const before = await hostState();
  const kitProcess = spawnTracked([process.execPath, join(REPO, 'dist/plugin-spec/conformance/cli.js'), '--socket', (tsnet as TsnetDaemon).socketPath,
    '--docker-host', `unix://${h.socketPath}`, '--netns', 'self', '--image', image, '--only', DOCKER_CHECKS], { netnsPath: h.netnsPath });
  try {
    // As soon as the network exists, while container 1 is being started: SIGINT, by PID.
    await waitFor(async () => /^docker\.network-create +PASS/m.test(kitProcess.output()) || !kitProcess.isRunning(), { what: 'docker.network-create to pass', timeoutMs: 60_000, intervalMs: 10 });
    const code = await kitProcess.stop('SIGINT', 60_000);
    const output = kitProcess.output();
    expect(output).toMatch(/^docker\.cleanup +SKIP {2}interrupted$/m);
    expect(output).toMatch(/^conformance: interrupted; removed the real-Docker mode's containers and network$/m);
    expect(code, output).toBe(130);
    expect(await hostState()).toEqual(before);
  } finally {
    await kitProcess.stop(10_000);
  }
});

test('a --docker-host where no dockerd answers: exit 2 before anything is created', async () => {
  const result = await kit(['--image', image], 'unix:///nonexistent/docker.sock');
  expect(result.stderr).toMatch(/^conformance: no dockerd answers at --docker-host unix:\/\/\/nonexistent\/docker\.sock: .*ENOENT.*; start it, or pass its API socket/);
  expect(result.stdout).toBe('');
  expect(result.code).toBe(2);
});
