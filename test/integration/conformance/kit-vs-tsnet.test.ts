import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { runConformance } from '../../../plugin-spec/conformance/run.js';
import { renderText } from '../../../plugin-spec/conformance/report.js';
import { createNetns, deleteNetns, execIn, netnsPath, uniqueNetnsName } from '../../support/netns.js';
import { startTsnetDaemon, type TsnetDaemon } from '../../support/tsnet-daemon.js';

// The whole conformance kit (both dockerd versions' replays) against a real tsnet daemon in a
// namespace of its own: tsnet must be the first plugin to pass it, and the kit must leave
// nothing behind in the kernel.

const ns = uniqueNetnsName('conf');
let dir = '';
let daemon: TsnetDaemon | undefined;

afterAll(async () => {
  await daemon?.process.stop(10_000);
  await deleteNetns(ns);
  if (dir) await rm(dir, { recursive: true, force: true });
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsnet-conf-'));
  await createNetns(ns);
  daemon = await startTsnetDaemon({ netnsPath: netnsPath(ns), pluginsDir: join(dir, 'plugins'), dir }, { extraArgs: ['--log-level', 'warn'] });
}, 120_000);

test('tsnet passes the full conformance kit, both dockerd versions, and nothing is left in its namespace', async () => {
  const started = Date.now();
  const report = await runConformance({ socketPath: (daemon as TsnetDaemon).socketPath, docker: ['20.10', '28'] });
  console.log(`conformance kit against tsnet: ${((Date.now() - started) / 1000).toFixed(1)} s\n${renderText(report)}`);
  expect(report.interfaces).toEqual(['network', 'ipam']);
  expect(report.results.filter((r) => r.outcome.status !== 'pass').map((r) => `${r.id}: ${JSON.stringify(r.outcome)}`)).toEqual([]);
  expect(report.results.flatMap((r) => r.leftovers)).toEqual([]);
  const links = JSON.parse((await execIn(ns, ['ip', '-json', 'link', 'show'])).stdout) as Array<{ ifname: string }>;
  expect(links.map((l) => l.ifname).filter((n) => n.startsWith('tsn'))).toEqual([]);
}, 120_000);
