import { parseArgs } from 'node:util';
import { CrashCampaign } from '../support/crash-campaign.js';

/**
 * `npm run bench:crash -- --rounds 200 [--seed N] [--churn-ms 5000-10000] [--keep-going] [--explicit-gateway]`:
 * the crash campaign of issue 7 (test/support/crash-campaign.ts) for as many rounds as asked.
 * Prints every round and the totals; exits 1 when a round failed or anything leaked.
 */
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '200' },
    seed: { type: 'string' },
    'churn-ms': { type: 'string' },
    'converge-timeout-ms': { type: 'string', default: '120000' },
    'keep-going': { type: 'boolean', default: false },
    'explicit-gateway': { type: 'boolean', default: false },
  },
});

function range(text: string | undefined): [number, number] | undefined {
  if (!text) return undefined;
  const match = /^(\d+)-(\d+)$/.exec(text);
  if (!match) throw new Error(`--churn-ms "${text}" is not MIN-MAX in milliseconds`);
  return [Number(match[1]), Number(match[2])];
}

const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds "${values.rounds}" is not a positive integer`);
const campaign = new CrashCampaign({
  rounds,
  seed: values.seed === undefined ? undefined : Number(values.seed),
  churnMs: range(values['churn-ms']),
  convergeTimeoutMs: Number(values['converge-timeout-ms']),
  keepGoing: values['keep-going'],
  explicitGateway: values['explicit-gateway'],
});

let code = 1;
const stopping = () => void campaign.dispose().finally(() => process.exit(130));
process.once('SIGINT', stopping);
process.once('SIGTERM', stopping);
try {
  const report = await campaign.run();
  code = report.totals.leaks === 0 && report.totals.failedRounds === 0 && report.totals.retriesFailed === 0 && report.totals.rounds === rounds && report.soak !== undefined && !report.soak.failure ? 0 : 1;
} catch (err) {
  console.error(err);
} finally {
  await campaign.dispose().catch((err: unknown) => {
    console.error(err);
    code = 1;
  });
}
process.exit(code);
