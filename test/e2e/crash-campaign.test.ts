import { afterAll, expect, test } from 'vitest';
import { CrashCampaign } from '../support/crash-campaign.js';

// The crash campaign of issue 7 in CI: at least 20 rounds of concurrent docker network
// create/rm and docker run/rm through a real dockerd 20.10, tsnet killed with SIGKILL at a
// random moment of each and restarted; after each round kernel, store and Docker must agree
// (test/support/crash-campaign.ts says exactly what is compared). `npm run bench:crash` runs
// the same for 200 rounds.

const ROUNDS = 20;
/** CI replays one seed, so a failure there can be run again as it was; bench:crash explores others. */
const SEED = Number(process.env.TSNET_CRASH_SEED ?? 20261202);
const campaign = new CrashCampaign({ rounds: ROUNDS, seed: SEED });

afterAll(() => campaign.dispose(), 300_000);

test(`${ROUNDS} rounds of churn with tsnet killed in each: no leak, no orphan, no duplicate, every retry works, every container reachable`, async () => {
  const report = await campaign.run();
  // The checks are not blind: each kind of fault, planted on purpose, was reported.
  expect(report.checksCaught).toHaveLength(7);
  const failures = report.rounds.filter((r) => r.failure).map((r) => `round ${r.round} (seed ${report.seed}):\n${r.failure}`);
  expect(failures.join('\n\n')).toBe('');
  expect(report.totals.rounds).toBeGreaterThanOrEqual(20);
  expect(report.totals.kills).toBe(report.totals.rounds);
  expect(report.totals.leaks).toBe(0);
  expect(report.totals.retriesFailed).toBe(0);
  // The campaign did churn: ops ran, some were cut off by the kills, and Docker retried them.
  expect(report.totals.ops).toBeGreaterThan(report.totals.rounds * 4);
  expect(report.rounds.every((r) => r.convergeMs !== undefined)).toBe(true);
  // Left alone longer than every grace period afterwards, tsnet removed nothing Docker uses.
  expect(report.soak?.failure ?? '').toBe('');
  expect(report.soak?.ms).toBeGreaterThan(80_000);
}, 25 * 60_000);
