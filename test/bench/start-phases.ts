import { ensureTestImage } from '../support/image.js';
import { DOCKER_VERSION, startSimulatedHost, type SimulatedHost } from '../support/sim-host.js';
import { startTsnet, type TsnetDaemon } from '../support/tsnet-daemon.js';
import { fmt, median } from './stats.js';

/**
 * `npm run bench:phases`: where the time of `docker run --rm` goes, per phase, on a tsnet bridge
 * network and on Docker's own bridge, from dockerd's events (create, network connect, start, die,
 * network disconnect, destroy) and, for tsnet, from its own call log on the same clock. The
 * question it answers: when tsnet's container start is slower than Docker's bridge, is the time
 * spent in tsnet's calls or in dockerd between them? Prints figures; asserts nothing.
 * One dockerd per run: `TSNET_E2E_DOCKER=20.10|28.5`.
 */
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const WARMUP = 3;

/** The dockerd events of one container, in the order they happen, as phase boundaries. */
const MARKS = ['client', 'create', 'connect', 'start', 'die', 'disconnect', 'destroy', 'client-end'] as const;
type Mark = (typeof MARKS)[number];

interface DockerEvent {
  readonly Type: string;
  readonly Action: string;
  readonly timeNano: number;
  readonly Actor: { readonly ID: string; readonly Attributes: Record<string, string> };
}

interface Call {
  readonly method: string;
  readonly endMs: number;
  readonly ms: number;
}

async function eventsBetween(host: SimulatedHost, fromMs: number, toMs: number): Promise<DockerEvent[]> {
  const at = (ms: number) => (ms / 1000).toFixed(3);
  const { stdout } = await host.docker(['events', '--since', at(fromMs - 5), '--until', at(toMs + 5), '--format', '{{json .}}']);
  return stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as DockerEvent);
}

/** The boundaries of one run (ms since the epoch), or undefined where an event is missing. */
function marksOf(events: readonly DockerEvent[], network: string, clientStart: number, clientEnd: number): Partial<Record<Mark, number>> {
  const ms = (e: DockerEvent | undefined) => (e ? e.timeNano / 1e6 : undefined);
  const container = events.find((e) => e.Type === 'container' && e.Action === 'create');
  const id = container?.Actor.ID;
  const net = (action: string) => events.find((e) => e.Type === 'network' && e.Action === action && e.Actor.Attributes.container === id && e.Actor.Attributes.name === network);
  const own = (action: string) => events.find((e) => e.Type === 'container' && e.Action === action && e.Actor.ID === id);
  return {
    client: clientStart,
    create: ms(container),
    connect: ms(net('connect')),
    start: ms(own('start')),
    die: ms(own('die')),
    disconnect: ms(net('disconnect')),
    destroy: ms(own('destroy')),
    'client-end': clientEnd,
  };
}

async function measure(host: SimulatedHost, image: string, network: string): Promise<Partial<Record<Mark, number>>> {
  const start = Date.now();
  await host.docker(['run', '--rm', '--network', network, image, 'true']);
  const end = Date.now();
  return marksOf(await eventsBetween(host, start, end), network, start, end);
}

function tsnetCalls(log: string): Call[] {
  return log.split('\n').filter((l) => l.includes('"msg":"call"')).map((l) => {
    const j = JSON.parse(l) as { method: string; ms: number; time: number };
    return { method: j.method, ms: j.ms, endMs: j.time };
  });
}

async function main(): Promise<void> {
  const host = await startSimulatedHost('phases');
  let tsnet: TsnetDaemon | undefined;
  try {
    tsnet = await startTsnet(host, { extraArgs: ['--log-level', 'info'] });
    const image = await ensureTestImage(host);
    await host.docker(['network', 'create', '-d', 'tsnet', '--subnet', '10.240.0.0/16', 'ph-tsnet']);
    await host.docker(['network', 'create', '-d', 'bridge', '--subnet', '10.241.0.0/16', 'ph-builtin']);
    const networks = ['ph-tsnet', 'ph-builtin'] as const;
    for (let i = 0; i < WARMUP; i++) for (const n of networks) await measure(host, image, n);
    const runs = new Map<string, Array<Partial<Record<Mark, number>>>>(networks.map((n) => [n, []]));
    for (let i = 0; i < RUNS; i++) {
      for (const n of i % 2 === 0 ? networks : [...networks].reverse()) runs.get(n)?.push(await measure(host, image, n));
    }
    console.log(`\ndockerd ${DOCKER_VERSION}: docker run --rm --network N ${image} true, ${RUNS} interleaved runs; phase medians in ms`);
    console.log(`${'phase'.padEnd(26)}${networks.map((n) => n.padStart(12)).join('')}${'diff'.padStart(10)}`);
    const phaseMedians = (n: string, from: Mark, to: Mark) => median((runs.get(n) ?? []).map((m) => (m[to] ?? Number.NaN) - (m[from] ?? Number.NaN)).filter((x) => !Number.isNaN(x)));
    for (let k = 0; k + 1 < MARKS.length; k++) {
      const from = MARKS[k] as Mark;
      const to = MARKS[k + 1] as Mark;
      const [a, b] = networks.map((n) => phaseMedians(n, from, to)) as [number, number];
      console.log(`${`${from} -> ${to}`.padEnd(26)}${fmt(a).padStart(12)}${fmt(b).padStart(12)}${fmt(a - b).padStart(10)}`);
    }
    const [ta, tb] = networks.map((n) => phaseMedians(n, 'client', 'client-end')) as [number, number];
    console.log(`${'total'.padEnd(26)}${fmt(ta).padStart(12)}${fmt(tb).padStart(12)}${fmt(ta - tb).padStart(10)}`);

    // tsnet's calls placed in the phases of its runs: which call falls in which phase, and its time.
    const calls = tsnetCalls(await tsnet.process.log());
    const perPhase = new Map<string, number[]>();
    for (const m of runs.get('ph-tsnet') ?? []) {
      for (const c of calls.filter((c) => c.endMs >= (m.client ?? 0) && c.endMs <= (m['client-end'] ?? 0))) {
        const phase = MARKS.findIndex((mk, k) => k + 1 < MARKS.length && c.endMs >= (m[mk] ?? Infinity) && c.endMs <= (m[MARKS[k + 1] as Mark] ?? -Infinity));
        const key = `${phase >= 0 ? `${MARKS[phase]} -> ${MARKS[phase + 1]}` : '?'}: ${c.method}`;
        perPhase.set(key, [...(perPhase.get(key) ?? []), c.ms]);
      }
    }
    console.log('\ntsnet calls per phase (median ms inside tsnet, count):');
    for (const [key, list] of [...perPhase.entries()].sort()) console.log(`  ${key.padEnd(64)} ${fmt(median(list)).padStart(7)}  n=${list.length}`);

    // The timeline of one container start on tsnet: when each call began and ended, relative to
    // dockerd's "create" event (median over the runs). Gaps between calls are dockerd's own work.
    const timeline = new Map<string, { begin: number[]; end: number[] }>();
    for (const m of runs.get('ph-tsnet') ?? []) {
      const inRun = calls.filter((c) => c.endMs >= (m.create ?? Infinity) && c.endMs <= (m.connect ?? -Infinity));
      const seen = new Map<string, number>();
      for (const c of inRun) {
        const nth = (seen.get(c.method) ?? 0) + 1;
        seen.set(c.method, nth);
        const key = `${c.method}${nth > 1 ? ` #${nth}` : ''}`;
        const entry = timeline.get(key) ?? { begin: [], end: [] };
        entry.begin.push(c.endMs - c.ms - (m.create ?? 0));
        entry.end.push(c.endMs - (m.create ?? 0));
        timeline.set(key, entry);
      }
    }
    console.log('\ntsnet calls between create and connect (ms after dockerd\'s create event, medians):');
    for (const [key, e] of [...timeline.entries()].sort((a, b) => median(a[1].begin) - median(b[1].begin))) console.log(`  ${key.padEnd(48)} begin ${fmt(median(e.begin)).padStart(7)}  end ${fmt(median(e.end)).padStart(7)}`);
    console.log(`  ${'connect event'.padEnd(48)} at    ${fmt(phaseMedians('ph-tsnet', 'create', 'connect')).padStart(7)}`);
  } finally {
    await tsnet?.process.stop(10_000);
    await host.stop();
  }
}

await main();
