import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { conformanceCommand } from '../../../plugin-spec/conformance/cli.js';
import { checks } from '../../../plugin-spec/conformance/run.js';
import { startFakePlugin, type Break } from './fake-plugin.js';

// `tsnet conformance` (and the standalone plugin-spec/conformance/cli.js): exit statuses, report
// formats, and the messages for a command line or a socket it cannot use.

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await conformanceCommand(args, { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; } });
  return { code, stdout, stderr };
}

const plugins = new Map<string, { socketPath: string; close: () => Promise<void> }>();
const dir = mkdtempSync(join(tmpdir(), 'tsnet-conf-cli-'));
const silent = join(dir, 'silent.sock');
const silentServer = createServer(() => undefined); // accepts and never answers

beforeAll(async () => {
  for (const breaks of ['ok', 'echo-address'] as const) plugins.set(breaks, await startFakePlugin(breaks === 'ok' ? undefined : breaks as Break));
  await new Promise<void>((resolve) => silentServer.listen(silent, resolve));
});
afterAll(async () => {
  for (const p of plugins.values()) await p.close();
  silentServer.close();
  rmSync(dir, { recursive: true, force: true });
});
const sock = (name: string) => (plugins.get(name) as { socketPath: string }).socketPath;

describe('tsnet conformance', () => {
  test('text: one line per check, the totals last, exit 0 when nothing failed (without --netns, join-interface is a SKIP; without --docker-host, the docker.* checks)', async () => {
    const { code, stdout } = await run(['--socket', sock('ok')]);
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(checks.length + 1);
    expect(lines[0]).toMatch(/^handshake\.activate +PASS$/);
    expect(lines).toContainEqual(expect.stringMatching(/^network\.join-interface +SKIP {2}pass --netns PATH/));
    const docker = checks.filter((c) => c.id.startsWith('docker.')).map((c) => c.id);
    expect(docker).toEqual(['docker.network-create', 'docker.ping', 'docker.ipv6', 'docker.ping6', 'docker.publish', 'docker.cleanup']);
    for (const id of docker) expect(lines).toContainEqual(`${id.padEnd(30)} SKIP  needs --docker-host and --image`);
    expect(lines.at(-1)).toBe(`${checks.length - 7} passed, 0 failed, 7 skipped`);
    expect(code).toBe(0);
  });

  test('a failing check: its line carries the reason, exit 1', async () => {
    const { code, stdout } = await run(['--socket', sock('echo-address'), '--only', 'network.endpoint-no-override,tolerance.empty-body']);
    expect(stdout).toMatch(/^network\.endpoint-no-override +FAIL {2}CreateEndpoint with Interface\.Address 10\.197\.32\.5\/24 returned Interface\.Address 10\.197\.32\.5\/24/m);
    expect(stdout.trimEnd().split('\n').at(-1)).toBe('1 passed, 1 failed, 0 skipped');
    expect(code).toBe(1);
  });

  test('--interfaces and --docker turn checks into SKIPs with the reason', async () => {
    const { code, stdout } = await run(['--socket', sock('echo-address'), '--interfaces', 'ipam', '--docker', '28']);
    expect(stdout).toMatch(/^network\.endpoint-no-override +SKIP {2}needs the network interface, not under test$/m);
    expect(stdout).toMatch(/^replay\.20\.10\.lifecycle +SKIP {2}applies to dockerd 20\.10 only \(--docker 28\)$/m);
    expect(code).toBe(0);
  });

  test('json and junit reports', async () => {
    const json = await run(['--socket', sock('echo-address'), '--format', 'json', '--only', 'network.endpoint-no-override']);
    expect(JSON.parse(json.stdout)).toMatchObject({ passed: 0, failed: 1, skipped: 0, results: [{ id: 'network.endpoint-no-override', outcome: { status: 'fail' } }] });
    const junit = await run(['--socket', sock('echo-address'), '--format', 'junit', '--only', 'network.endpoint-no-override,handshake.activate']);
    expect(junit.stdout).toContain('<testsuite name="docker plugin conformance" tests="2" failures="1" skipped="0"');
    expect(junit.stdout).toMatch(/<testcase classname="plugin-conformance" name="network.endpoint-no-override" time="[\d.]+">\n {4}<failure message="CreateEndpoint with/);
    expect(junit.code).toBe(1);
  });

  const usage: Array<[string, string[], RegExp]> = [
    ['no --socket', [], /--socket PATH is required: the plugin's unix socket, e\.g\. --socket \/run\/docker\/plugins\/NAME\.sock/],
    ['an unknown flag', ['--socket', 'x', '--frobnicate'], /Unknown option '--frobnicate'.*see --help/],
    ['an unknown check id', ['--socket', 'x', '--only', 'ipam.nope'], /unknown check id ipam\.nope; the ids are: handshake\.activate, .*tsnet conformance --list/],
    ['a bad --docker', ['--socket', 'x', '--docker', '19.03'], /--docker 19\.03: expected 20\.10, 28 or both/],
    ['a bad --interfaces', ['--socket', 'x', '--interfaces', 'network,volume'], /--interfaces network,volume: expected network, ipam or network,ipam/],
    ['a bad --format', ['--socket', 'x', '--format', 'xml'], /--format xml: expected text, json or junit/],
    ['--docker-subnet without --docker-host', ['--socket', 'x', '--docker-subnet', '10.250.7.0/24'], /--docker-subnet is for the real-Docker mode: pass --docker-host unix:\/\/\/PATH and --image IMAGE too/],
    ['a --docker-subnet with host bits', ['--socket', 'x', '--docker-host', 'unix:///d.sock', '--image', 'i', '--docker-subnet', '10.250.7.1/24'], /--docker-subnet 10\.250\.7\.1\/24: expected an IPv4 subnet from \/8 to \/29 without host bits, e\.g\. --docker-subnet 10\.250\.7\.0\/24/],
    ['a --docker-subnet too small', ['--socket', 'x', '--docker-host', 'unix:///d.sock', '--image', 'i', '--docker-subnet', '10.250.7.0/30'], /--docker-subnet 10\.250\.7\.0\/30: expected an IPv4 subnet from \/8 to \/29/],
    ['a bad --docker-port', ['--socket', 'x', '--docker-host', 'unix:///d.sock', '--image', 'i', '--docker-port', '70000'], /--docker-port 70000: expected a TCP port from 1 to 65535, e\.g\. --docker-port 27198/],
    ['a non-numeric --docker-port', ['--socket', 'x', '--docker-host', 'unix:///d.sock', '--image', 'i', '--docker-port', '8o'], /--docker-port 8o: expected a TCP port from 1 to 65535/],
    ['a missing socket file', ['--socket', '/nonexistent/plugin.sock'], /no plugin answers Plugin\.Activate at \/nonexistent\/plugin\.sock: .*ENOENT.*start the plugin, or pass the path of its socket/],
    ['a socket that never answers', ['--socket', silent, '--timeout', '0.3'], /no plugin answers Plugin\.Activate at .*silent\.sock: Plugin\.Activate: no reply within 300 ms/],
  ];
  for (const [what, args, message] of usage) {
    test(`${what}: exit 2 with a message saying what to fix`, async () => {
      const { code, stdout, stderr } = await run(args);
      expect(stderr).toMatch(new RegExp(`^tsnet conformance: ${message.source}`));
      expect(stdout).toBe('');
      expect(code).toBe(2);
    });
  }

  test('--help and --list', async () => {
    const help = await run(['--help']);
    expect(help.stdout).toMatch(/^Usage: tsnet conformance --socket PATH/);
    expect(help.code).toBe(0);
    const list = await run(['--list']);
    expect(list.stdout.split('\n').filter((l) => l !== '' && !l.startsWith(' '))).toEqual(checks.map((c) => c.id));
  });
});

test('plugin-spec/README.md documents every check id, and only those', () => {
  const readme = readFileSync(new URL('../../../plugin-spec/README.md', import.meta.url), 'utf8');
  const table = readme.split('### The checks')[1]?.split('\n### ')[0] ?? '';
  const documented = [...table.matchAll(/^\| `([a-z0-9.-]+)` \|/gm)].map((m) => m[1]);
  expect(documented).toEqual(checks.map((c) => c.id));
});

test('the command runs without vitest or tsnet: everything cli.ts imports, transitively, is plugin-spec, zod or node:', () => {
  const root = new URL('../../../', import.meta.url);
  const seen = new Set<string>();
  const outside: string[] = [];
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(new URL(file, root), 'utf8');
    for (const [, spec = ''] of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
      if (spec.startsWith('.')) {
        const target = new URL(spec.replace(/\.js$/, '.ts'), new URL(file, root)).pathname.slice(root.pathname.length);
        if (target.startsWith('plugin-spec/')) visit(target);
        else outside.push(`${file} imports ${target}`);
      } else if (spec !== 'zod' && !spec.startsWith('node:')) outside.push(`${file} imports ${spec}`);
    }
  };
  visit('plugin-spec/conformance/cli.ts');
  expect(seen.size).toBeGreaterThan(10);
  expect(outside).toEqual([]);
});
