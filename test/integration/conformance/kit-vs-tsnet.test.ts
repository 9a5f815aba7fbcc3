import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { ipLinkProbe } from '../../../plugin-spec/conformance/links.js';
import { runConformance } from '../../../plugin-spec/conformance/run.js';
import { renderText } from '../../../plugin-spec/conformance/report.js';
import { execIn, netnsPath } from '../../support/netns.js';
import { netnsDaemon } from '../../support/netns-daemon.js';
import { REPO } from '../../support/tsnet-daemon.js';

// The whole conformance kit (both dockerd versions' replays) against a real tsnet daemon in a
// namespace of its own: tsnet must be the first plugin to pass it, and the kit must leave
// nothing behind in the kernel.

const fixture = netnsDaemon('conf');
const { ns } = fixture;

test('tsnet passes the full conformance kit, both dockerd versions, and nothing is left in its namespace', async () => {
  const started = Date.now();
  const report = await runConformance({ socketPath: fixture.daemon().socketPath, docker: ['20.10', '28'], linkProbe: ipLinkProbe(netnsPath(ns)) });
  console.log(`conformance kit against tsnet: ${((Date.now() - started) / 1000).toFixed(1)} s\n${renderText(report)}`);
  expect(report.interfaces).toEqual(['network', 'ipam']);
  // The real-Docker mode needs a dockerd: test/e2e/conformance-docker.test.ts runs it.
  expect(report.results.filter((r) => r.outcome.status !== 'pass' && !r.id.startsWith('docker.')).map((r) => `${r.id}: ${JSON.stringify(r.outcome)}`)).toEqual([]);
  expect(report.results.flatMap((r) => r.leftovers)).toEqual([]);
  const links = JSON.parse((await execIn(ns, ['ip', '-json', 'link', 'show'])).stdout) as Array<{ ifname: string }>;
  expect(links.map((l) => l.ifname).filter((n) => n.startsWith('tsn'))).toEqual([]);
}, 120_000);

/** Runs a built CLI as a user would, without vitest in the process; resolves whatever the exit status. */
async function node(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, args, { cwd: REPO, timeout: 60_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
  );
}

test('the built commands, tsnet conformance and the standalone plugin-spec one, pass tsnet with --netns and exit 0', async () => {
  const socket = fixture.daemon().socketPath;
  const standalone = await node(['dist/plugin-spec/conformance/cli.js', '--socket', socket, '--netns', netnsPath(ns), '--docker', '28']);
  expect(standalone.stdout).toMatch(/^network\.join-interface +PASS$/m);
  expect(standalone.stdout).toMatch(/^replay\.20\.10\.lifecycle +SKIP/m);
  expect(standalone.stdout.trimEnd().split('\n').at(-1), standalone.stdout + standalone.stderr).toMatch(/^\d+ passed, 0 failed, 7 skipped$/);
  expect(standalone.code).toBe(0);
  const viaTsnet = await node(['dist/src/cli.js', 'conformance', '--socket', socket, '--format', 'junit', '--only', 'replay.20.10.lifecycle,ipam.overlap-retry']);
  expect(viaTsnet.stdout).toContain('tests="2" failures="0" skipped="0"');
  expect(viaTsnet.code).toBe(0);
  const bad = await node(['dist/src/cli.js', 'conformance', '--socket', join(fixture.dir(), 'nothing.sock')]);
  expect(bad.stderr).toMatch(/^tsnet conformance: no plugin answers Plugin\.Activate at .*nothing\.sock/);
  expect(bad.code).toBe(2);
}, 120_000);

test('the kit\'s link probe sees a bridge port\'s master and none on the free end of a pair, and nothing for a missing link', async () => {
  // A pair made by hand in the test's namespace: one end on a bridge, as a plugin's host end is.
  await execIn(ns, ['ip', 'link', 'add', 'tkbr0', 'type', 'bridge']);
  await execIn(ns, ['ip', 'link', 'add', 'tkhost0', 'master', 'tkbr0', 'type', 'veth', 'peer', 'name', 'tkcont0']);
  try {
    const probe = ipLinkProbe(netnsPath(ns));
    expect(await probe('tkhost0')).toEqual({ master: 'tkbr0' });
    expect(await probe('tkcont0')).toEqual({});
    expect(await probe('tknone0')).toBeUndefined();
  } finally {
    await execIn(ns, ['ip', 'link', 'del', 'tkhost0'], { allowFail: true });
    await execIn(ns, ['ip', 'link', 'del', 'tkbr0'], { allowFail: true });
  }
});

test('the kit packed alone (deploy/conformance/pack.sh) runs from its tarball with only zod beside it, and passes tsnet', async () => {
  const packDir = await mkdtemp(join(tmpdir(), 'tsnet-pack-'));
  try {
    const packed = await promisify(execFile)('bash', ['deploy/conformance/pack.sh', packDir], { cwd: REPO, timeout: 180_000 });
    const tarball = packed.stdout.trim().split('\n').at(-1) ?? '';
    expect(tarball).toMatch(/docker-plugin-conformance-[\d.]+\.tgz$/);
    await promisify(execFile)('tar', ['-xzf', tarball, '-C', packDir]);
    const pkg = join(packDir, 'package');
    const manifest = JSON.parse(await readFile(join(pkg, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; bin: Record<string, string> };
    expect(Object.keys(manifest.dependencies)).toEqual(['zod']);
    // Only zod beside it: an import of anything of tsnet's would fail to resolve here.
    await mkdir(join(pkg, 'node_modules'));
    await symlink(join(REPO, 'node_modules', 'zod'), join(pkg, 'node_modules', 'zod'));
    const result = await promisify(execFile)(process.execPath, [join(pkg, manifest.bin['docker-plugin-conformance'] ?? ''), '--socket', fixture.daemon().socketPath, '--netns', netnsPath(ns)], { cwd: packDir, timeout: 120_000 })
      .then(({ stdout }) => ({ code: 0, stdout }), (err: { code?: number; stdout?: string }) => ({ code: err.code ?? -1, stdout: err.stdout ?? '' }));
    expect(result.stdout).toMatch(/^replay\.28\.lifecycle +PASS$/m);
    expect(result.stdout.trimEnd().split('\n').at(-1), result.stdout).toMatch(/^\d+ passed, 0 failed, 6 skipped$/);
    expect(result.code).toBe(0);
    expect(JSON.parse(await readFile(join(pkg, 'json-schema', 'NetworkDriver.Join.json'), 'utf8'))).toHaveProperty('request');
  } finally {
    await rm(packDir, { recursive: true, force: true });
  }
}, 240_000);
