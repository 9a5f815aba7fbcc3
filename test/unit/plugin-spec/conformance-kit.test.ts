import { afterAll, describe, expect, test } from 'vitest';
import { checks, runConformance, type ConformanceReport, type RunOptions } from '../../../plugin-spec/conformance/run.js';
import { renderText } from '../../../plugin-spec/conformance/report.js';
import { startFakePlugin, type Break, type FakeOptions } from './fake-plugin.js';

// The conformance kit against a correct fake plugin (everything passes) and against a corpus of
// fakes that each break one rule: each must fail exactly the check named for that rule.

const closers: Array<() => Promise<void>> = [];
afterAll(async () => { await Promise.all(closers.map((c) => c())); });

async function runAgainst(breaks?: Break, options: Omit<RunOptions, 'socketPath'> = {}, fake: FakeOptions = {}): Promise<ConformanceReport> {
  const plugin = await startFakePlugin(breaks, fake);
  closers.push(plugin.close);
  const linkProbe = async (name: string) => {
    if (!plugin.links.has(name)) return undefined;
    const master = plugin.links.get(name);
    return master ? { master } : {};
  };
  return runConformance({ socketPath: plugin.socketPath, timeoutMs: 5_000, linkProbe, ...options });
}
const status = (report: ConformanceReport, id: string) => report.results.find((r) => r.id === id)?.outcome;

const failed = (report: ConformanceReport) => report.results.filter((r) => r.outcome.status === 'fail').map((r) => r.id);

describe('conformance kit', () => {
  test('a correct plugin passes every check, with nothing skipped but the real-Docker mode (no dockerd given) and nothing left behind', async () => {
    const report = await runAgainst();
    expect(failed(report), renderText(report)).toEqual([]);
    expect(report.results.map((r) => r.id)).toEqual(checks.map((c) => c.id));
    expect(report.results.filter((r) => r.outcome.status === 'skip').map((r) => [r.id, r.outcome])).toEqual(
      ['docker.network-create', 'docker.ping', 'docker.ipv6', 'docker.ping6', 'docker.publish', 'docker.cleanup'].map((id) => [id, { status: 'skip', reason: 'needs --docker-host and --image' }]),
    );
    expect(report.dockerLeftovers).toBeUndefined();
    expect(report.results.flatMap((r) => r.leftovers)).toEqual([]);
  });

  test('replies spelled as Go reads them (lower-case keys, unknown keys) pass everything, as dockerd accepts them', async () => {
    const report = await runAgainst(undefined, {}, { goSpelling: true });
    expect(failed(report), renderText(report)).toEqual([]);
    expect(report.interfaces).toEqual(['network', 'ipam']);
  });

  const corpus: Array<[Break, string]> = [
    ['echo-address', 'network.endpoint-no-override'],
    ['err-not-error', 'ipam.refusal-in-error'],
    ['discover-404', 'network.discover-not-404'],
    ['delete-not-idempotent', 'network.delete-idempotent'],
    ['racy-addresses', 'ipam.concurrent-unique'],
    ['crash-on-unknown-fields', 'tolerance.unknown-fields'],
    ['same-auto-pool', 'ipam.overlap-retry'],
    ['no-refcount', 'ipam.pool-refcount'],
    ['join-leaks-interface', 'network.join-interface'],
    ['join-host-end', 'network.join-interface'],
    ['ignores-subpool', 'ipam.subpool-range'],
    ['hands-out-broadcast', 'ipam.pool-exhaustion'],
    ['allows-overlap', 'ipam.overlap-refused'],
    ['racy-join', 'network.concurrent-endpoints'],
    // dockerd 28's IPv6-only network: refusing it is fine (the recorder did), a 500 is a crash.
    ['ipv6-only-500', 'replay.28.lifecycle'],
  ];
  for (const [breaks, check] of corpus) {
    test(`a plugin that breaks "${breaks}" fails ${check} and only it`, async () => {
      const report = await runAgainst(breaks);
      expect(failed(report), renderText(report)).toEqual([check]);
    });
  }

  test('a plugin that never answers an oversized body fails refusal.oversized-body after the timeout, and only it', async () => {
    const report = await runAgainst('hang-on-oversized', { timeoutMs: 1_000 });
    expect(failed(report), renderText(report)).toEqual(['refusal.oversized-body']);
    expect(status(report, 'refusal.oversized-body')).toEqual({ status: 'fail', reason: 'NetworkDriver.CreateNetwork with a 2 MiB body: NetworkDriver.CreateNetwork: no reply within 1000 ms' });
  });

  test('a Join reply Go cannot decode fails every check that calls Join: the replays (naming the fixture line) and join-interface', async () => {
    const report = await runAgainst('join-bad-reply');
    expect(failed(report), renderText(report)).toEqual(['network.join-interface', 'network.concurrent-endpoints', 'replay.20.10.lifecycle', 'replay.28.lifecycle']);
    expect(status(report, 'replay.20.10.lifecycle')).toMatchObject({ reason: expect.stringMatching(/^docker-20\.10-requests\.jsonl:\d+ NetworkDriver\.Join: .*SrcName/) });
  });

  test('--docker 20.10 runs only the 20.10 replay; the 28 one is a SKIP that says why', async () => {
    const report = await runAgainst('join-bad-reply', { docker: ['20.10'], skip: ['network.join-interface', 'network.concurrent-endpoints'] });
    expect(failed(report)).toEqual(['replay.20.10.lifecycle']);
    expect(status(report, 'replay.28.lifecycle')).toEqual({ status: 'skip', reason: 'applies to dockerd 28 only (--docker 20.10)' });
  });

  test('an IPAM-only plugin: network checks are SKIPs naming the missing interface, the rest pass', async () => {
    const report = await runAgainst(undefined, { interfaces: ['ipam'] });
    expect(failed(report)).toEqual([]);
    expect(status(report, 'network.delete-idempotent')).toEqual({ status: 'skip', reason: 'needs the network interface, not under test' });
    expect(status(report, 'replay.28.lifecycle')).toEqual({ status: 'pass' });
  });

  test('without a link probe (no --netns), network.join-interface is a SKIP that says how to run it', async () => {
    const report = await runAgainst(undefined, { linkProbe: undefined, only: ['network.join-interface'] });
    expect(status(report, 'network.join-interface')).toEqual({ status: 'skip', reason: expect.stringMatching(/^pass --netns PATH/) });
  });

  test('--only and --skip select checks by id', async () => {
    const report = await runAgainst('echo-address', { only: ['network.endpoint-no-override', 'ipam.pool-refcount'], skip: ['ipam.pool-refcount'] });
    expect(report.results.map((r) => [r.id, r.outcome.status])).toEqual([['ipam.pool-refcount', 'skip'], ['network.endpoint-no-override', 'fail']]);
  });
});

test('an IPAM-only plugin that never answers an oversized RequestPool fails refusal.oversized-body', async () => {
  const report = await runAgainst('hang-on-oversized', { timeoutMs: 1_000, interfaces: ['ipam'], only: ['refusal.oversized-body'] });
  expect(status(report, 'refusal.oversized-body')).toEqual({ status: 'fail', reason: 'IpamDriver.RequestPool with a 2 MiB body: IpamDriver.RequestPool: no reply within 1000 ms' });
});
