import { afterAll, describe, expect, test } from 'vitest';
import { checks, runConformance, type ConformanceReport } from '../../../plugin-spec/conformance/run.js';
import { renderText } from '../../../plugin-spec/conformance/report.js';
import { startFakePlugin, type Break } from './fake-plugin.js';

// The conformance kit against a correct fake plugin (everything passes) and against a corpus of
// fakes that each break one rule: each must fail exactly the check named for that rule.

const closers: Array<() => Promise<void>> = [];
afterAll(async () => { await Promise.all(closers.map((c) => c())); });

async function runAgainst(breaks?: Break): Promise<ConformanceReport> {
  const plugin = await startFakePlugin(breaks);
  closers.push(plugin.close);
  return runConformance({ socketPath: plugin.socketPath, timeoutMs: 5_000 });
}

const failed = (report: ConformanceReport) => report.results.filter((r) => r.outcome.status === 'fail').map((r) => r.id);

describe('conformance kit', () => {
  test('a correct plugin passes every check, with nothing skipped and nothing left behind', async () => {
    const report = await runAgainst();
    expect(failed(report), renderText(report)).toEqual([]);
    expect(report.results.map((r) => r.id)).toEqual(checks.map((c) => c.id));
    expect(report.results.filter((r) => r.outcome.status === 'skip')).toEqual([]);
    expect(report.results.flatMap((r) => r.leftovers)).toEqual([]);
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
  ];
  for (const [breaks, check] of corpus) {
    test(`a plugin that breaks "${breaks}" fails ${check} and only it`, async () => {
      const report = await runAgainst(breaks);
      expect(failed(report), renderText(report)).toEqual([check]);
    });
  }
});
