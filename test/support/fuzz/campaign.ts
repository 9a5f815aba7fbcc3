import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FuzzHost } from './fuzz-host.js';
import type { Recorded } from './generators.js';
import { Fuzzer, emptyStats, type FuzzStats } from './runner.js';

/** Options of {@link runCampaign}. */
export interface CampaignOptions {
  readonly inputs: number;
  readonly seed: number;
  /** Independent hosts (namespace + daemon) fuzzed in parallel; each gets its share of inputs and its own seed. */
  readonly workers: number;
  readonly recorded: readonly Recorded[];
  /** Scratch directory, owned by the caller (removed by it). */
  readonly dir: string;
  readonly progress?: (line: string) => void;
  readonly progressEvery?: number;
  /** Called with each host as it starts, so that a caller can stop it on failure. */
  readonly onHost?: (host: FuzzHost) => void;
  /** Ends the campaign early, after each worker's case in progress; the counts so far are returned. */
  readonly signal?: AbortSignal;
}

/**
 * Fuzzes `inputs` inputs spread over `workers` hosts, each in its own namespace with its own
 * daemon (so they cannot disturb each other), and merges the counts and violation classes.
 * Worker w uses seed + w * 1,000,003, so a run is reproduced by its seed and worker count.
 */
export async function runCampaign(options: CampaignOptions): Promise<FuzzStats> {
  const hosts: FuzzHost[] = [];
  const started = performance.now();
  try {
    const settled = await Promise.allSettled(Array.from({ length: options.workers }, async (_, w) => {
      const dir = join(options.dir, `worker-${w}`);
      await mkdir(dir, { recursive: true });
      const host = await FuzzHost.start(dir, `fuzz${w}`, (h) => { hosts.push(h); options.onHost?.(h); });
      const share = Math.ceil(options.inputs / options.workers);
      const fuzzer = new Fuzzer(host, {
        inputs: share, seed: options.seed + w * 1_000_003, recorded: options.recorded,
        ...(options.progress ? { progress: (line: string) => options.progress?.(`[worker ${w}] ${line}`) } : {}),
        ...(options.progressEvery ? { progressEvery: options.progressEvery } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      return fuzzer.run();
    }));
    // Every worker has finished (or failed) before any host is stopped.
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const merged = mergeStats(settled.map((r) => (r as PromiseFulfilledResult<FuzzStats>).value));
    merged.ms = performance.now() - started;
    return merged;
  } finally {
    for (const host of hosts) await host.stop();
    await rm(options.dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

function add(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

/** Sums counts; a violation class keeps its smallest example. */
export function mergeStats(all: readonly FuzzStats[]): FuzzStats {
  const out = emptyStats();
  for (const s of all) {
    out.inputs += s.inputs;
    out.cases += s.cases;
    out.accepted += s.accepted;
    out.violations += s.violations;
    out.resets += s.resets;
    add(out.refused, s.refused);
    add(out.origins, s.origins);
    add(out.methods, s.methods);
    add(out.phases, s.phases);
    for (const [cls, c] of s.classes) {
      const existing = out.classes.get(cls);
      if (!existing) out.classes.set(cls, { count: c.count, example: c.example });
      else {
        existing.count += c.count;
        if (c.example.size < existing.example.size) existing.example = c.example;
      }
    }
  }
  return out;
}
