import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCampaign } from '../support/fuzz/campaign.js';
import { formatCounts, formatViolations, loadRecorded } from '../support/fuzz/runner.js';
import { REPO } from '../support/tsnet-daemon.js';

/**
 * The fuzz campaign at benchmark size (issue 7): by default 20,000 inputs against the real
 * daemon in network namespaces, then the counts (inputs, accepted, refused by class, violations
 * by class with one minimal example each). `npm run bench:fuzz -- --inputs N --workers W --seed S`.
 * SIGINT (Ctrl-C) ends it early, after the cases in progress, and still prints the counts.
 * Exits 1 when there were violations.
 */
const { values } = parseArgs({
  options: {
    inputs: { type: 'string', default: '20000' },
    workers: { type: 'string', default: '2' },
    seed: { type: 'string' },
    fixtures: { type: 'string' },
  },
});
const inputs = Number(values.inputs);
const workers = Number(values.workers);
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
if (!Number.isInteger(inputs) || inputs < 1 || !Number.isInteger(workers) || workers < 1 || !Number.isInteger(seed)) {
  console.error('usage: fuzz-bench [--inputs N] [--workers W] [--seed S] [--fixtures DIR]');
  process.exit(2);
}
const recorded = loadRecorded([join(REPO, 'plugin-spec/fixtures'), ...(values.fixtures ? [values.fixtures] : [])]);
console.log(`fuzz bench: ${inputs} inputs, ${workers} workers, seed ${seed}, ${recorded.length} recorded requests`);
const dir = await mkdtemp(join(tmpdir(), 'tsnet-fuzz-bench-'));
const stop = new AbortController();
process.once('SIGINT', () => {
  console.log('SIGINT: finishing the cases in progress, then the counts so far');
  stop.abort();
});
const stats = await runCampaign({ inputs, seed, workers, recorded, dir, progress: (line) => console.log(line), progressEvery: 500, signal: stop.signal });
if (stop.signal.aborted) console.log(`stopped early at ${stats.inputs} of ${inputs} inputs`);
console.log(`\n${formatCounts(stats, seed)}`);
console.log(`  inputs per second: ${(stats.inputs / (stats.ms / 1000)).toFixed(1)}`);
if (stats.classes.size > 0) console.log(`\nVIOLATIONS by class (count, smallest input):\n\n${formatViolations(stats)}`);
process.exit(stats.violations > 0 ? 1 : 0);
