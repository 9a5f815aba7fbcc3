import { afterAll, describe, expect, test } from 'vitest';
import { conformanceCommand } from '../../../plugin-spec/conformance/cli.js';
import { parseIpOLink } from '../../../plugin-spec/conformance/links.js';
import { renderText } from '../../../plugin-spec/conformance/report.js';
import { runConformance, type ConformanceReport } from '../../../plugin-spec/conformance/run.js';
import { dockerModeSubnet, dockerModeSubnet6, formatIpv6, parseIpv6 } from '../../../plugin-spec/conformance/real-docker.js';
import { startFakeEngine, type EngineBreak, type FakeEngine } from './fake-engine.js';
import { startFakePlugin } from './fake-plugin.js';

// The real-Docker mode (--docker-host, --image) against a fake dockerd on a unix socket with a
// fake kernel: what each docker.* check reports, and that everything the mode created is removed
// whatever failed. The real thing runs in test/e2e/conformance-docker.test.ts.

const closers: Array<() => Promise<void>> = [];
afterAll(async () => { for (const c of closers) await c(); });

const ONLY = ['docker.network-create', 'docker.ping', 'docker.ipv6', 'docker.ping6', 'docker.publish', 'docker.cleanup'];

async function runDocker(breaks?: EngineBreak, image = 'busybox:latest', only = ONLY, where: { subnet?: string; hostPort?: number; ipv6?: boolean; subnet6?: string } = {}): Promise<{ report: ConformanceReport; engine: FakeEngine }> {
  const plugin = await startFakePlugin();
  const engine = await startFakeEngine(breaks);
  closers.push(plugin.close, engine.close);
  const report = await runConformance({
    socketPath: plugin.socketPath, only, timeoutMs: 5_000,
    realDocker: { engineSocket: engine.socketPath, image, driver: 'fakeplug', links: () => engine.links(), timeoutMs: 5_000, ...where },
  });
  return { report, engine };
}
const outcomes = (report: ConformanceReport) => Object.fromEntries(report.results.map((r) => [r.id, r.outcome]));

// One at a time: the fake's published port is a fixed one (17198) on 127.0.0.1.
describe.sequential('real-Docker mode', () => {
  test('a working plugin and dockerd: all six pass (dual-stack by default), and the network, containers and links are gone', async () => {
    const { report, engine } = await runDocker();
    const before = (await engine.links()).all;
    expect(outcomes(report), renderText(report)).toEqual({
      'docker.network-create': { status: 'pass', note: expect.stringMatching(/^network c0f0-conformance-[0-9a-f]{8}, driver fakeplug, IPAM fakeplug$/) },
      'docker.ping': { status: 'pass', note: 'container 2 reached container 1 at 10.198.0.2' },
      'docker.ipv6': { status: 'pass', note: 'container 1 got fd5c:6e65:7443::2 in fd5c:6e65:7443::/64' },
      'docker.ping6': { status: 'pass', note: 'container 2 reached container 1 at fd5c:6e65:7443::2' },
      'docker.publish': { status: 'pass', note: '127.0.0.1:17198 answered "hello from c0f0"' },
      'docker.cleanup': { status: 'pass', note: expect.stringMatching(/^removed; 2 interfaces as before, bridge br-\w+ gone$/) },
    });
    expect(engine.objects()).toEqual({ networks: [], containers: [] });
    expect(before).toEqual(['eth0', 'lo']);
    expect(report.dockerLeftovers).toEqual([]);
    expect(engine.calls).toContainEqual('POST /networks/create');
  });

  test('--docker-subnet, --docker-subnet6 and --docker-port: the network gets those subnets and the port is published there', async () => {
    const { report } = await runDocker(undefined, 'busybox:latest', ONLY, { subnet: '10.250.7.0/24', hostPort: 27198, subnet6: 'fd00:250:7::/64' });
    expect(outcomes(report), renderText(report)).toMatchObject({
      'docker.network-create': { status: 'pass' },
      'docker.ping': { status: 'pass', note: 'container 2 reached container 1 at 10.250.7.2' },
      'docker.ipv6': { status: 'pass', note: 'container 1 got fd00:250:7::2 in fd00:250:7::/64' },
      'docker.ping6': { status: 'pass', note: 'container 2 reached container 1 at fd00:250:7::2' },
      'docker.publish': { status: 'pass', note: '127.0.0.1:27198 answered "hello from c0f0"' },
      'docker.cleanup': { status: 'pass' },
    });
  });

  test('dockerModeSubnet: an IPv4 subnet from /8 to /29 without host bits, with its first address as gateway', () => {
    expect(dockerModeSubnet('10.250.7.0/24')).toEqual({ subnet: '10.250.7.0/24', gateway: '10.250.7.1' });
    expect(dockerModeSubnet('172.30.0.0/16')).toEqual({ subnet: '172.30.0.0/16', gateway: '172.30.0.1' });
    for (const bad of ['10.250.7.1/24', '10.250.7.0/30', '10.0.0.0/7', '300.1.1.0/24', 'fd00::/64', '10.250.7.0', '']) expect(dockerModeSubnet(bad), bad).toBeUndefined();
  });

  test('dockerModeSubnet6: an IPv6 subnet from /48 to /120 without host bits, normalised, with its first address as gateway', () => {
    expect(dockerModeSubnet6('fd5c:6e65:7443::/64')).toEqual({ subnet: 'fd5c:6e65:7443::/64', gateway: 'fd5c:6e65:7443::1' });
    expect(dockerModeSubnet6('FD00:0250:0007:0000::/64')).toEqual({ subnet: 'fd00:250:7::/64', gateway: 'fd00:250:7::1' });
    expect(dockerModeSubnet6('2001:db8:1:2:3:4:5:0/120')).toEqual({ subnet: '2001:db8:1:2:3:4:5:0/120', gateway: '2001:db8:1:2:3:4:5:1' });
    expect(dockerModeSubnet6('fd00:1::/48')).toEqual({ subnet: 'fd00:1::/48', gateway: 'fd00:1::1' });
    for (const bad of ['fd5c:6e65:7443::1/64', 'fd00::/47', 'fd00::/121', 'fd00::/64x', 'fd00:::/64', 'fe80::%eth0/64', '::ffff:10.0.0.0/120', '10.250.7.0/24', 'fd00::', '']) expect(dockerModeSubnet6(bad), bad).toBeUndefined();
  });

  test('parseIpv6 and formatIpv6 round-trip, with the longest run of zeros as ::', () => {
    for (const [text, short] of [['::', '::'], ['::1', '::1'], ['fd00:0:0:1:0:0:0:2', 'fd00:0:0:1::2'], ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'], ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7']]) {
      expect(formatIpv6(parseIpv6(text as string) as bigint), text).toBe(short);
    }
    expect(parseIpv6('10.0.0.1')).toBeUndefined();
  });

  test('a plugin that gives container 1 no IPv6 address: exactly docker.ipv6 fails, saying so; docker.ping6 is a SKIP naming it', async () => {
    const { report, engine } = await runDocker('no-ipv6');
    expect(outcomes(report), renderText(report)).toEqual({
      'docker.network-create': { status: 'pass', note: expect.any(String) },
      'docker.ping': { status: 'pass', note: 'container 2 reached container 1 at 10.198.0.2' },
      'docker.ipv6': { status: 'fail', reason: expect.stringMatching(/^container 1 got no IPv6 address on a --ipv6 network \(c0f0-conformance-\w+, fd5c:6e65:7443::\/64\): docker inspect shows GlobalIPv6Address empty/) },
      'docker.ping6': { status: 'skip', reason: expect.stringMatching(/^finding container 1's IPv6 address failed in docker\.ipv6 \(see its line\): container 1 got no IPv6 address/) },
      'docker.publish': { status: 'pass', note: expect.any(String) },
      'docker.cleanup': { status: 'pass', note: expect.any(String) },
    });
    expect(engine.objects()).toEqual({ networks: [], containers: [] });
  });

  test('an IPv6 ping that fails: docker.ping6 fails with ping\'s output, the IPv4 ping passes', async () => {
    const { report } = await runDocker('ping6-fails', undefined, ['docker.ping', 'docker.ping6', 'docker.cleanup']);
    expect(outcomes(report)).toMatchObject({
      'docker.ping': { status: 'pass' },
      'docker.ping6': { status: 'fail', reason: 'ping -6 -c 1 -W 2 fd5c:6e65:7443::2 from container 2 exited 1: 1 packets transmitted, 0 packets received, 100% packet loss' },
      'docker.cleanup': { status: 'pass' },
    });
  });

  test('IPv6 off: the network is IPv4-only, docker.ipv6 and docker.ping6 are SKIPs saying why, the rest pass', async () => {
    const { report, engine } = await runDocker(undefined, undefined, ONLY, { ipv6: false });
    const skipped = { status: 'skip', reason: '--docker-ipv6 off: the network is IPv4-only' };
    expect(outcomes(report), renderText(report)).toMatchObject({
      'docker.network-create': { status: 'pass' }, 'docker.ping': { status: 'pass' }, 'docker.ipv6': skipped, 'docker.ping6': skipped,
      'docker.publish': { status: 'pass' }, 'docker.cleanup': { status: 'pass' },
    });
    // Only container 1 and the IPv4 ping ran.
    expect(engine.calls.filter((c) => c === 'POST /containers/create')).toHaveLength(2);
  });

  test('dockerd refuses the network: network-create fails with its message, the others are SKIPs naming it, cleanup passes', async () => {
    const { report, engine } = await runDocker('refuse-network');
    expect(outcomes(report)).toEqual({
      'docker.network-create': { status: 'fail', reason: expect.stringMatching(/^creating network c0f0-conformance-\w+ with driver fakeplug: dockerd answered HTTP 500: plugin "x" not found$/) },
      'docker.ping': { status: 'skip', reason: expect.stringMatching(/^creating the network failed in docker\.network-create \(see its line\): /) },
      'docker.ipv6': { status: 'skip', reason: expect.stringMatching(/^creating the network failed in docker\.network-create \(see its line\): /) },
      'docker.ping6': { status: 'skip', reason: expect.stringMatching(/^creating the network failed in docker\.network-create \(see its line\): /) },
      'docker.publish': { status: 'skip', reason: expect.stringMatching(/^creating the network failed in docker\.network-create/) },
      'docker.cleanup': { status: 'pass', note: 'nothing was created' },
    });
    expect(engine.objects()).toEqual({ networks: [], containers: [] });
  });

  test('an image dockerd does not have: ping fails saying it is never pulled, publish is a SKIP, the network is removed', async () => {
    const { report, engine } = await runDocker(undefined, 'nosuch:1');
    expect(outcomes(report)['docker.ping']).toEqual({ status: 'fail', reason: expect.stringMatching(/^image nosuch:1 is not in this dockerd, and the kit never pulls: load it there first/) });
    expect(outcomes(report)['docker.publish']).toMatchObject({ status: 'skip' });
    expect(outcomes(report)['docker.ipv6']).toEqual({ status: 'skip', reason: expect.stringMatching(/^starting container 1 failed in docker\.ping \(see its line\): image nosuch:1/) });
    expect(outcomes(report)['docker.ping6']).toEqual({ status: 'skip', reason: expect.stringMatching(/^starting container 1 failed in docker\.ping \(see its line\): image nosuch:1/) });
    expect(outcomes(report)['docker.cleanup']).toMatchObject({ status: 'pass' });
    expect(engine.objects()).toEqual({ networks: [], containers: [] });
  });

  test('a ping that fails and a port that never answers are FAILs with the reason', async () => {
    const ping = await runDocker('ping-fails', undefined, ['docker.ping', 'docker.cleanup']);
    expect(outcomes(ping.report)['docker.ping']).toEqual({ status: 'fail', reason: 'ping -c 1 -W 3 10.198.0.2 from container 2 exited 1: 1 packets transmitted, 0 packets received, 100% packet loss' });
    const publish = await runDocker('no-publish', undefined, ['docker.publish']);
    expect(outcomes(publish.report)['docker.publish']).toMatchObject({ status: 'fail', reason: expect.stringMatching(/^127\.0\.0\.1:17198, published to container 1's port 7000, never answered "hello from c0f0" in 10 s: .*ECONNREFUSED/) });
    // docker.cleanup did not run: the runner removed everything all the same.
    expect(publish.report.dockerLeftovers).toEqual([]);
    expect(publish.engine.objects()).toEqual({ networks: [], containers: [] });
  }, 20_000);

  test('an interface left behind fails docker.cleanup, naming it', async () => {
    const { report } = await runDocker('leak-veth');
    expect(outcomes(report)['docker.cleanup']).toEqual({ status: 'fail', reason: expect.stringMatching(/^interfaces left behind after the containers and the network were removed: veth\w+(, veth\w+)+ \(delete what Join/) });
  }, 20_000);
});

test('parseIpOLink reads names from ip -o link show', () => {
  const out = '1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue\n5: veth12ab@if4: <BROADCAST> mtu 1500\n3: tsnb-1a2b: <BROADCAST,MULTICAST> mtu 1500\n';
  expect(parseIpOLink(out)).toEqual(['lo', 'tsnb-1a2b', 'veth12ab']);
});

describe('command line of the real-Docker mode', () => {
  async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const code = await conformanceCommand(args, { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; } });
    return { code, stdout, stderr };
  }
  const usage: Array<[string, string[], RegExp]> = [
    ['--image without --docker-host', ['--socket', 'x', '--image', 'busybox'], /--image is for the real-Docker mode: pass --docker-host unix:\/\/\/PATH/],
    ['--driver without --docker-host', ['--socket', 'x', '--driver', 'x'], /--driver is for the real-Docker mode/],
    ['--docker-host without --image', ['--socket', 'x', '--docker-host', 'unix:///run/docker.sock'], /--docker-host needs --image IMAGE: an image that dockerd already has/],
    ['a tcp --docker-host', ['--socket', 'x', '--docker-host', 'tcp://127.0.0.1:2375', '--image', 'b'], /--docker-host tcp:\/\/127\.0\.0\.1:2375: expected unix:\/\/\/PATH/],
    ['a bad --driver', ['--socket', 'x', '--docker-host', 'unix:///d.sock', '--image', 'b', '--driver', 'a b'], /--driver a b: not a plugin name dockerd can look up/],
    ['--docker-subnet6 without --docker-host', ['--socket', 'x', '--docker-subnet6', 'fd00:250:7::/64'], /--docker-subnet6 is for the real-Docker mode: pass --docker-host unix:\/\/\/PATH and --image IMAGE too/],
    ['--docker-ipv6 without --docker-host', ['--socket', 'x', '--docker-ipv6', 'off'], /--docker-ipv6 is for the real-Docker mode: pass --docker-host/],
    ['a --docker-subnet6 that is not a CIDR', ['--socket', 'x', '--docker-host', 'unix:///d.sock', '--image', 'b', '--docker-subnet6', 'fd00:250:7::'], /--docker-subnet6 fd00:250:7::: expected an IPv6 subnet from \/48 to \/120 without host bits, e.g. --docker-subnet6 fd5c:6e65:7444::\/64\n/],
    ['an IPv4 --docker-subnet6', ['--socket', 'x', '--docker-host', 'unix:///d.sock', '--image', 'b', '--docker-subnet6', '10.250.7.0/24'], /--docker-subnet6 10\.250\.7\.0\/24: expected an IPv6 subnet from \/48 to \/120/],
    ['a --docker-subnet6 with host bits', ['--socket', 'x', '--docker-host', 'unix:///d.sock', '--image', 'b', '--docker-subnet6', 'fd00:250:7::1/64'], /--docker-subnet6 fd00:250:7::1\/64: expected an IPv6 subnet from \/48 to \/120 without host bits/],
    ['a --docker-subnet6 too wide', ['--socket', 'x', '--docker-host', 'unix:///d.sock', '--image', 'b', '--docker-subnet6', 'fd00::/32'], /--docker-subnet6 fd00::\/32: expected an IPv6 subnet from \/48 to \/120/],
    ['a bad --docker-ipv6', ['--socket', 'x', '--docker-host', 'unix:///d.sock', '--image', 'b', '--docker-ipv6', 'yes'], /--docker-ipv6 yes: expected on or off, e.g. --docker-ipv6 off for a plugin without IPv6/],
    ['--docker-subnet6 with --docker-ipv6 off', ['--socket', 'x', '--docker-host', 'unix:///d.sock', '--image', 'b', '--docker-ipv6', 'off', '--docker-subnet6', 'fd00:250:7::/64'], /--docker-subnet6 fd00:250:7::\/64 is for a dual-stack network: drop it, or --docker-ipv6 off/],
  ];
  for (const [what, args, message] of usage) {
    test(`${what}: exit 2 with a message saying what to fix`, async () => {
      const { code, stdout, stderr } = await run(args);
      expect(stderr).toMatch(new RegExp(`^tsnet conformance: ${message.source}`));
      expect(stdout).toBe('');
      expect(code).toBe(2);
    });
  }

  test('--help describes the mode with the subnet and port the checks use', async () => {
    const { stdout, code } = await run(['--help']);
    for (const text of ['--docker-host unix:///PATH', '--image IMAGE', '--driver NAME', '10.198.0.0/24', '127.0.0.1:17198', 'never pulled', '130 after Ctrl-C',
      '--docker-ipv6 on|off', '--docker-subnet6 CIDR', '--ipv6 --subnet fd5c:6e65:7443::/64', 'checked over IPv4 only']) expect(stdout).toContain(text);
    expect(code).toBe(0);
  });

  test('no dockerd at --docker-host: exit 2 before any check runs', async () => {
    const plugin = await startFakePlugin();
    closers.push(plugin.close);
    const { code, stdout, stderr } = await run(['--socket', plugin.socketPath, '--docker-host', 'unix:///nonexistent/docker.sock', '--image', 'busybox']);
    expect(stderr).toMatch(/^tsnet conformance: no dockerd answers at --docker-host unix:\/\/\/nonexistent\/docker\.sock: .*ENOENT.*; start it, or pass its API socket/);
    expect(stdout).toBe('');
    expect(code).toBe(2);
  });

  test('the driver defaults to the socket\'s base name; the run reports the docker.* lines and exits 0', async () => {
    const plugin = await startFakePlugin();
    const engine = await startFakeEngine();
    closers.push(plugin.close, engine.close);
    // The fake plugin's socket is …/plugin.sock or similar: whatever it is, the driver is its base name.
    const name = plugin.socketPath.split('/').at(-1)?.replace(/\.sock$/, '');
    const { code, stdout } = await run(['--socket', plugin.socketPath, '--docker-host', `unix://${engine.socketPath}`, '--image', 'busybox:latest', '--only', 'docker.network-create']);
    expect(stdout).toContain(`driver ${name}, IPAM ${name}`);
    expect(stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 0 failed, 0 skipped');
    expect(engine.objects()).toEqual({ networks: [], containers: [] });
    expect(code).toBe(0);
  });

  test('--docker-subnet6 and --docker-ipv6 off reach the run: the IPv6 checks use that subnet, or are SKIPs', async () => {
    const plugin = await startFakePlugin();
    const engine = await startFakeEngine();
    closers.push(plugin.close, engine.close);
    const base = ['--socket', plugin.socketPath, '--docker-host', `unix://${engine.socketPath}`, '--image', 'busybox:latest', '--only', 'docker.ipv6,docker.ping6'];
    const on = await run([...base, '--docker-subnet6', 'fd00:250:7:0::/64']);
    expect(on.stdout).toContain(`${'docker.ipv6'.padEnd(30)} PASS  container 1 got fd00:250:7::2 in fd00:250:7::/64`);
    expect(on.stdout).toContain(`${'docker.ping6'.padEnd(30)} PASS  container 2 reached container 1 at fd00:250:7::2`);
    expect(on.code).toBe(0);
    const off = await run([...base, '--docker-ipv6', 'off']);
    for (const id of ['docker.ipv6', 'docker.ping6']) expect(off.stdout).toContain(`${id.padEnd(30)} SKIP  --docker-ipv6 off: the network is IPv4-only`);
    expect(off.stdout.trimEnd().split('\n').at(-1)).toBe('0 passed, 0 failed, 2 skipped');
    expect(off.code).toBe(0);
  });
});

test('an interrupted run (SIGINT/SIGTERM in the command) removes the network at once; the checks not yet run are SKIPs', async () => {
  const plugin = await startFakePlugin();
  const engine = await startFakeEngine();
  closers.push(plugin.close, engine.close);
  const interrupt = new AbortController();
  let networksWhenAborted: string[] = [];
  const report = await runConformance({
    socketPath: plugin.socketPath, only: ONLY, timeoutMs: 5_000, signal: interrupt.signal,
    realDocker: { engineSocket: engine.socketPath, image: 'busybox:latest', driver: 'fakeplug', links: () => engine.links(), timeoutMs: 5_000 },
    onResult: (r) => {
      if (r.id === 'docker.network-create') {
        networksWhenAborted = engine.objects().networks;
        interrupt.abort();
      }
    },
  });
  expect(networksWhenAborted).toHaveLength(1);
  expect(report.results.map((r) => [r.id, r.outcome.status])).toEqual([['docker.network-create', 'pass'], ['docker.ping', 'skip'], ['docker.ipv6', 'skip'], ['docker.ping6', 'skip'], ['docker.publish', 'skip'], ['docker.cleanup', 'skip']]);
  expect(outcomes(report)['docker.ping']).toEqual({ status: 'skip', reason: 'interrupted' });
  expect(report.dockerLeftovers).toEqual([]);
  expect(engine.objects()).toEqual({ networks: [], containers: [] });
});
