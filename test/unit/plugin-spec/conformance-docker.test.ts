import { afterAll, describe, expect, test } from 'vitest';
import { conformanceCommand } from '../../../plugin-spec/conformance/cli.js';
import { parseIpOLink } from '../../../plugin-spec/conformance/links.js';
import { renderText } from '../../../plugin-spec/conformance/report.js';
import { runConformance, type ConformanceReport } from '../../../plugin-spec/conformance/run.js';
import { dockerModeSubnet } from '../../../plugin-spec/conformance/real-docker.js';
import { startFakeEngine, type EngineBreak, type FakeEngine } from './fake-engine.js';
import { startFakePlugin } from './fake-plugin.js';

// The real-Docker mode (--docker-host, --image) against a fake dockerd on a unix socket with a
// fake kernel: what each docker.* check reports, and that everything the mode created is removed
// whatever failed. The real thing runs in test/e2e/conformance-docker.test.ts.

const closers: Array<() => Promise<void>> = [];
afterAll(async () => { for (const c of closers) await c(); });

const ONLY = ['docker.network-create', 'docker.ping', 'docker.publish', 'docker.cleanup'];

async function runDocker(breaks?: EngineBreak, image = 'busybox:latest', only = ONLY, where: { subnet?: string; hostPort?: number } = {}): Promise<{ report: ConformanceReport; engine: FakeEngine }> {
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
  test('a working plugin and dockerd: all four pass, and the network, containers and links are gone', async () => {
    const { report, engine } = await runDocker();
    const before = (await engine.links()).all;
    expect(outcomes(report), renderText(report)).toEqual({
      'docker.network-create': { status: 'pass', note: expect.stringMatching(/^network c0f0-conformance-[0-9a-f]{8}, driver fakeplug, IPAM fakeplug$/) },
      'docker.ping': { status: 'pass', note: 'container 2 reached container 1 at 10.198.0.2' },
      'docker.publish': { status: 'pass', note: '127.0.0.1:17198 answered "hello from c0f0"' },
      'docker.cleanup': { status: 'pass', note: expect.stringMatching(/^removed; 2 interfaces as before, bridge br-\w+ gone$/) },
    });
    expect(engine.objects()).toEqual({ networks: [], containers: [] });
    expect(before).toEqual(['eth0', 'lo']);
    expect(report.dockerLeftovers).toEqual([]);
    expect(engine.calls).toContainEqual('POST /networks/create');
  });

  test('--docker-subnet and --docker-port: the network gets that subnet and its first address as gateway, and the port is published there', async () => {
    const { report } = await runDocker(undefined, 'busybox:latest', ONLY, { subnet: '10.250.7.0/24', hostPort: 27198 });
    expect(outcomes(report), renderText(report)).toMatchObject({
      'docker.network-create': { status: 'pass' },
      'docker.ping': { status: 'pass', note: 'container 2 reached container 1 at 10.250.7.2' },
      'docker.publish': { status: 'pass', note: '127.0.0.1:27198 answered "hello from c0f0"' },
      'docker.cleanup': { status: 'pass' },
    });
  });

  test('dockerModeSubnet: an IPv4 subnet from /8 to /29 without host bits, with its first address as gateway', () => {
    expect(dockerModeSubnet('10.250.7.0/24')).toEqual({ subnet: '10.250.7.0/24', gateway: '10.250.7.1' });
    expect(dockerModeSubnet('172.30.0.0/16')).toEqual({ subnet: '172.30.0.0/16', gateway: '172.30.0.1' });
    for (const bad of ['10.250.7.1/24', '10.250.7.0/30', '10.0.0.0/7', '300.1.1.0/24', 'fd00::/64', '10.250.7.0', '']) expect(dockerModeSubnet(bad), bad).toBeUndefined();
  });

  test('dockerd refuses the network: network-create fails with its message, the others are SKIPs naming it, cleanup passes', async () => {
    const { report, engine } = await runDocker('refuse-network');
    expect(outcomes(report)).toEqual({
      'docker.network-create': { status: 'fail', reason: expect.stringMatching(/^creating network c0f0-conformance-\w+ with driver fakeplug: dockerd answered HTTP 500: plugin "x" not found$/) },
      'docker.ping': { status: 'skip', reason: expect.stringMatching(/^creating the network failed in docker\.network-create \(see its line\): /) },
      'docker.publish': { status: 'skip', reason: expect.stringMatching(/^creating the network failed in docker\.network-create/) },
      'docker.cleanup': { status: 'pass', note: 'nothing was created' },
    });
    expect(engine.objects()).toEqual({ networks: [], containers: [] });
  });

  test('an image dockerd does not have: ping fails saying it is never pulled, publish is a SKIP, the network is removed', async () => {
    const { report, engine } = await runDocker(undefined, 'nosuch:1');
    expect(outcomes(report)['docker.ping']).toEqual({ status: 'fail', reason: expect.stringMatching(/^image nosuch:1 is not in this dockerd, and the kit never pulls: load it there first/) });
    expect(outcomes(report)['docker.publish']).toMatchObject({ status: 'skip' });
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
    expect(outcomes(report)['docker.cleanup']).toEqual({ status: 'fail', reason: expect.stringMatching(/^interfaces left behind after the containers and the network were removed: veth\w+, veth\w+ \(delete what Join/) });
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
    for (const text of ['--docker-host unix:///PATH', '--image IMAGE', '--driver NAME', '10.198.0.0/24', '127.0.0.1:17198', 'never pulled', '130 after Ctrl-C']) expect(stdout).toContain(text);
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
  expect(report.results.map((r) => [r.id, r.outcome.status])).toEqual([['docker.network-create', 'pass'], ['docker.ping', 'skip'], ['docker.publish', 'skip'], ['docker.cleanup', 'skip']]);
  expect(outcomes(report)['docker.ping']).toEqual({ status: 'skip', reason: 'interrupted' });
  expect(report.dockerLeftovers).toEqual([]);
  expect(engine.objects()).toEqual({ networks: [], containers: [] });
});
