import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../support/exec.js';
import { startLab, type Lab } from '../support/lab.js';
import { formatHeapSummary, summarizeHeapFile, type HeapSummary } from './heap-summary.js';
import { fmt, median, overheadRatioInterval, percentile } from './stats.js';

/**
 * `npm run bench:overlay`, on the multi-host lab (deploy/lab/lab.sh):
 * - convergence: from `docker run` returning on h1 until h2's kernel holds the forwarding and
 *   neighbour entries of the new container (then one ping from h2 checks it answers);
 * - data path: TCP and UDP throughput (iperf3), CPU per Gbit/s and ping RTT (back to back, and
 *   at 10 ms intervals) container to container across hosts, on both overlay layouts (macvlan,
 *   bridge), next to Docker's own overlay (swarm mode) and to VXLAN pairs made by hand on the
 *   same underlay, between two namespaces of their own and in the hosts' own namespaces,
 *   interleaved in the same run;
 * - start cost: what a tsnet overlay (local gateway, and docker_gwbridge) adds to `docker run --rm … true` over `--network none`, for
 *   the host's first container on the overlay and for one with a neighbour, next to a tsnet
 *   bridge network, interleaved on one host;
 * - scale: BENCH_SCALE_ENDPOINTS (default 1000) endpoints over 3 hosts, time until every host
 *   has every peer, each daemon's memory before, right after and 30 s later (RSS split into anonymous and
 *   file-backed, V8 heap, external), where h1's heap goes, from a heap snapshot, and how long
 *   Docker's calls wait when h1's daemon restarts (stopped, then killed) with its share of them.
 * Prints figures; asserts nothing.
 */
const TRIALS = Number(process.env.BENCH_TRIALS ?? 50);
const NET = ['network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=overlay', '-o', 'tsnet.overlay.name=bench', '--ipam-driver', 'tsnet', '--ipam-opt', 'tsnet.scope=global', '--subnet', '10.70.0.0/16', 'bench'];

const macFor = (ip: string) => `02:74:${ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join(':')}`;
const ipAt = (i: number) => `10.70.${Math.floor(i / 250) + 1}.${(i % 250) + 2}`;

async function vxlanOf(lab: Lab, host: string): Promise<string> {
  const out = (await lab.exec(host, ['ip', '-o', 'link', 'show', 'type', 'vxlan'])).stdout;
  const name = /\d+: (tsnx-[0-9a-f]{10})/.exec(out)?.[1];
  if (!name) throw new Error(`no overlay VXLAN device on ${host}`);
  return name;
}

/** `BENCH_PARTS=start,convergence` runs only those parts (default: all four). */
const PARTS = new Set((process.env.BENCH_PARTS ?? 'start,convergence,datapath,scale').split(',').map((p) => p.trim()));
const START_ROUNDS = Number(process.env.BENCH_START_ROUNDS ?? 12);
/** Three hosts for the scale part; two otherwise, the lab of the start-cost figures. */
const HOSTS = PARTS.has('scale') ? ['h1', 'h2', 'h3'] : ['h1', 'h2'];

/**
 * On the lab's last host, before it has any container: overhead over --network none, as medians
 * of interleaved rounds, for the overlay with its default local gateway (`bench`), the overlay
 * with docker_gwbridge legs instead (`bench-gw`, on that host alone) and a tsnet bridge. The
 * other hosts program a peer entry for each container, on the same CPUs in this lab.
 */
async function startCost(lab: Lab): Promise<void> {
  const h = HOSTS[HOSTS.length - 1] as string;
  await lab.docker(h, ['network', 'create', '-d', 'tsnet', '--subnet', '10.71.0.0/24', 'bench-br']);
  await lab.docker(h, ['network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=overlay', '-o', 'tsnet.overlay.name=bench-gw', '-o', 'tsnet.overlay.gateway=docker_gwbridge',
    '--ipam-driver', 'tsnet', '--ipam-opt', 'tsnet.scope=global', '--subnet', '10.72.0.0/24', 'bench-gw']);
  const time = async (network: string) => {
    const t0 = performance.now();
    await lab.docker(h, ['run', '--rm', '--network', network, 'tsbox', 'true']);
    return performance.now() - t0;
  };
  const NETWORKS = ['none', 'bench', 'bench-gw', 'bench-br'] as const;
  type Measured = (typeof NETWORKS)[number];
  const rounds = async () => {
    const samples: Record<Measured, number[]> = { none: [], bench: [], 'bench-gw': [], 'bench-br': [] };
    for (const n of NETWORKS) await time(n); // warm-up
    for (let i = 0; i < START_ROUNDS; i++) {
      const order = NETWORKS.map((_, k, all) => all[(k + i) % all.length] as Measured);
      for (const n of order) samples[n].push(await time(n));
    }
    const over = (n: Measured) => median(samples[n]) - median(samples.none);
    const ratio = (n: Measured) => overheadRatioInterval(samples[n], samples['bench-br'], samples.none);
    return { local: over('bench'), gwbridge: over('bench-gw'), bridge: over('bench-br'), localRatio: ratio('bench'), gwbridgeRatio: ratio('bench-gw') };
  };
  // Each --rm container is the host's only one on the overlay: the first container's case.
  const first = await rounds();
  await lab.docker(h, ['run', '-d', '--name', 'resident', '--network', 'bench', 'tsbox', 'sleep', '1d']);
  await lab.docker(h, ['run', '-d', '--name', 'resident-gw', '--network', 'bench-gw', 'tsbox', 'sleep', '1d']);
  // The bridge gets a neighbour too: dockerd's own work per container grows with the network's.
  await lab.docker(h, ['run', '-d', '--name', 'resident-br', '--network', 'bench-br', 'tsbox', 'sleep', '1d']);
  const other = await rounds();
  await lab.docker(h, ['rm', '-f', 'resident', 'resident-gw', 'resident-br']);
  await lab.docker(h, ['network', 'rm', 'bench-br', 'bench-gw']);
  console.log(`
start cost on ${h} of a ${HOSTS.length}-host lab (docker run --rm … true, medians of ${START_ROUNDS} interleaved rounds, overhead over --network none):`);
  for (const [what, r] of [['host\'s first container on the overlay', first], ['with another container on the network', other]] as const) {
    console.log(`  ${what}: tsnet bridge +${fmt(r.bridge)} ms`);
    const interval = (i: { low: number; high: number }) => `[90%: ${i.low.toFixed(2)}–${i.high.toFixed(2)}]`;
    console.log(`    overlay, local gateway (default): +${fmt(r.local)} ms, ratio ${(r.local / r.bridge).toFixed(2)} ${interval(r.localRatio)}   (target <= 1.2)`);
    console.log(`    overlay, docker_gwbridge:         +${fmt(r.gwbridge)} ms, ratio ${(r.gwbridge / r.bridge).toFixed(2)} ${interval(r.gwbridgeRatio)}`);
  }
}

async function convergence(lab: Lab): Promise<void> {
  await lab.docker('h2', ['run', '-d', '--name', 'probe', '--network', 'bench', 'tsbox', 'sleep', '1d']);
  await lab.docker('h1', ['run', '-d', '--name', 'warm', '--network', 'bench', 'tsbox', 'sleep', '1d']);
  const vx = await vxlanOf(lab, 'h2');
  const afterReturn: number[] = [];
  const afterStart: number[] = [];
  let pings = 0;
  for (let i = 0; i < TRIALS; i++) {
    const ip = ipAt(1000 + i);
    const mac = macFor(ip);
    // A watcher in h2's namespace prints the wall-clock time at which both entries exist.
    const watcher = run(['ip', 'netns', 'exec', `${lab.name}-h2`, 'sh', '-c',
      `until bridge fdb show dev ${vx} | grep -q ${mac} && ip neigh show dev ${vx} | grep -q "${ip} "; do sleep 0.002; done; date +%s%N`], { timeoutMs: 30_000 });
    const issued = Date.now();
    await lab.docker('h1', ['run', '-d', '--name', `t${i}`, '--network', 'bench', '--ip', ip, 'tsbox', 'sleep', '1d']);
    const returned = Date.now();
    const programmed = Number((await watcher).stdout.trim()) / 1e6;
    afterReturn.push(programmed - returned);
    afterStart.push(programmed - issued);
    if ((await lab.docker('h2', ['exec', 'probe', 'ping', '-c', '1', '-W', '1', ip], { allowFail: true })).code === 0) pings++;
  }
  const show = (v: number[]) => `p50 ${median(v).toFixed(1)} ms, p99 ${percentile(v, 99).toFixed(1)} ms, max ${Math.max(...v).toFixed(1)} ms`;
  console.log(`\nconvergence over ${TRIALS} trials (h2's kernel holds the FDB and neighbour entries of a container started on h1):`);
  console.log(`  after docker run on h1 returned: ${show(afterReturn)}   (targets p50 < 100, p99 < 500; negative = before it returned)`);
  console.log(`  after docker run on h1 was issued: ${show(afterStart)}`);
  console.log(`  h2 → new container ping answered right after: ${pings}/${TRIALS}`);
  for (let i = 0; i < TRIALS; i++) await lab.docker('h1', ['rm', '-f', `t${i}`], { allowFail: true });
}

interface PathFigures {
  readonly gbps: number;
  /** Average of pings 10 ms apart: mostly how fast idle CPUs wake up, a few µs of it the path. */
  readonly rttMs: number;
  /**
   * Flood ping (`ping -f`): the next echo leaves as the reply arrives, so no CPU idles between
   * them; the run's elapsed time per round trip is the path's latency plus ping's own work.
   */
  readonly floodRttUs: number;
  /** Whole-machine CPU during the TCP run, in % of one core per Gbit/s (softirqs included). */
  readonly cpuPerGbps: number;
  readonly udpGbps: number;
  readonly udpLossPct: number;
}

/** Busy and total jiffies of the whole machine, from /proc/stat's first line. */
async function cpuTimes(): Promise<{ busy: number; total: number }> {
  const fields = (await readFile('/proc/stat', 'utf8')).split('\n')[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

type Iperf = { end?: { sum_received?: { bits_per_second: number }; sum?: { bits_per_second: number; lost_percent: number } }; error?: string };

/** Round trips per flood ping: about a third of a second of them, timed to the millisecond by ping. */
const FLOOD_PINGS = 50_000;

async function iperfBetween(client: (argv: string[]) => Promise<string>, server: (argv: string[]) => Promise<unknown>, ip: string): Promise<PathFigures> {
  const once = async (extra: string[]): Promise<Iperf> => {
    const srv = server(['iperf3', '-s', '-1']);
    await new Promise((r) => setTimeout(r, 500));
    const json = JSON.parse(await client(['iperf3', '-c', ip, '-t', '5', '-J', ...extra])) as Iperf;
    await srv;
    if (json.error) throw new Error(`iperf3 failed: ${json.error}`);
    return json;
  };
  const cpuBefore = await cpuTimes();
  const tcp = await once([]);
  const cpuAfter = await cpuTimes();
  if (!tcp.end?.sum_received) throw new Error('iperf3 TCP: no result');
  const gbps = tcp.end.sum_received.bits_per_second / 1e9;
  const cores = ((cpuAfter.busy - cpuBefore.busy) / (cpuAfter.total - cpuBefore.total)) * cpus;
  // Datagrams that fit the overlay's MTU (1450 - 28 bytes of IP and UDP headers), no fragments.
  const udp = await once(['-u', '-b', '0', '-l', '1400']);
  if (!udp.end?.sum) throw new Error('iperf3 UDP: no result');
  await client(['ping', '-c', '5', '-i', '0.05', '-q', ip]); // warm caches and neighbour entries first
  const ping = await client(['ping', '-c', '100', '-i', '0.01', '-q', ip]);
  const rtt = Number(/= [\d.]+\/([\d.]+)\//.exec(ping)?.[1]);
  const flood = await client(['ping', '-f', '-c', String(FLOOD_PINGS), '-q', ip]);
  const elapsedMs = Number(/ time (\d+)ms/.exec(flood)?.[1]);
  if (!/ 0% packet loss/.test(flood) || !(elapsedMs > 0)) throw new Error(`flood ping to ${ip}: ${flood.trim()}`);
  return { gbps, rttMs: rtt, floodRttUs: (elapsedMs * 1000) / FLOOD_PINGS, cpuPerGbps: (cores * 100) / gbps, udpGbps: udp.end.sum.bits_per_second / 1e9, udpLossPct: udp.end.sum.lost_percent };
}

const cpus = (await readFile('/proc/cpuinfo', 'utf8')).split('\n').filter((l) => l.startsWith('processor')).length;
const DATAPATH_ROUNDS = Number(process.env.BENCH_DATAPATH_ROUNDS ?? 3);

/**
 * Container to container across two hosts on the default (macvlan) layout and on the bridge
 * layout, next to a hand-made VXLAN pair on the same underlay, interleaved over
 * BENCH_DATAPATH_ROUNDS rounds; medians are printed, with each round's ratio.
 */
async function dataPath(lab: Lab): Promise<void> {
  // iperf3 from the host's filesystem (read-only), with a writable /tmp for its buffers.
  const tools = ['-v', '/:/host:ro', '--tmpfs', '/host/tmp'];
  const bridged = ['network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=overlay', '-o', 'tsnet.overlay.name=bench-br', '-o', 'tsnet.overlay.datapath=bridge',
    '--ipam-driver', 'tsnet', '--ipam-opt', 'tsnet.scope=global', '--subnet', '10.72.0.0/16', 'bench-br'];
  for (const h of ['h1', 'h2']) await lab.docker(h, bridged);
  const pair = async (network: string, suffix: string) => {
    await lab.docker('h2', ['run', '-d', '--name', `srv${suffix}`, '--network', network, ...tools, 'tsbox', 'sleep', '1d']);
    await lab.docker('h1', ['run', '-d', '--name', `cli${suffix}`, '--network', network, ...tools, 'tsbox', 'sleep', '1d']);
    const ip = (await lab.docker('h2', ['inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, `srv${suffix}`])).stdout.trim();
    return { ip, client: inContainer('h1', `cli${suffix}`), server: inContainer('h2', `srv${suffix}`) };
  };
  const inContainer = (h: string, c: string) => async (argv: string[]) => (await lab.docker(h, ['exec', c, 'chroot', '/host', `/usr/bin/${argv[0]}`, ...argv.slice(1)], { timeoutMs: 60_000 })).stdout;
  const macvlan = await pair('bench', '');
  const bridge = await pair('bench-br', '-br');
  // Docker's own overlay: swarm mode (h1 the manager, h2 a worker) and an attachable network, so
  // plain `docker run` containers join it as they join tsnet's.
  const swarm = async () => {
    await lab.docker('h1', ['swarm', 'init', '--advertise-addr', '198.19.10.1', '--listen-addr', '198.19.10.1:2377']);
    const token = (await lab.docker('h1', ['swarm', 'join-token', '-q', 'worker'])).stdout.trim();
    await lab.docker('h2', ['swarm', 'join', '--advertise-addr', '198.19.10.2', '--listen-addr', '198.19.10.2:2377', '--token', token, '198.19.10.1:2377']);
    await lab.docker('h1', ['network', 'create', '-d', 'overlay', '--attachable', '--subnet', '10.73.0.0/24', 'bench-docker']);
    return pair('bench-docker', '-docker');
  };

  // The hand-made pairs: a VXLAN device with a static flood entry and the overlay address
  // directly on it (no bridge, no veth, no container), once in two namespaces of their own on the
  // same underlay (no firewall on the path: the issue's reference) and once in the lab hosts' own
  // namespaces, where dockerd's firewall sees every VXLAN packet as it sees tsnet's.
  const a = `${lab.name}-va`;
  const b = `${lab.name}-vb`;
  const sh = (ns: string, cmd: string) => run(['ip', 'netns', 'exec', ns, 'sh', '-c', cmd], { timeoutMs: 60_000 });
  const vxlanPair = (dev: string, vni: number, port: number, under: string, over: string, peerUnder: string) =>
    `ip link add ${dev} type vxlan id ${vni} local ${under} dstport ${port} nolearning; ip link set ${dev} mtu 1450 up; ip addr add ${over}/24 dev ${dev};
     bridge fdb append 00:00:00:00:00:00 dev ${dev} dst ${peerUnder}`;
  // The lab hosts' underlay addresses (lab.sh: hN is 198.19.10.N).
  const inHosts = [['h1', '198.19.10.1', '10.98.0.1', '198.19.10.2'], ['h2', '198.19.10.2', '10.98.0.2', '198.19.10.1']] as const;
  try {
    for (const [ns, under, over, peerUnder] of [[a, '198.19.10.201', '10.99.0.1', '198.19.10.202'], [b, '198.19.10.202', '10.99.0.2', '198.19.10.201']] as const) {
      await run(['ip', 'netns', 'add', ns]);
      await run(['ip', 'link', 'add', `${ns.slice(-2)}0`, 'netns', ns, 'type', 'veth', 'peer', 'name', `ul-${ns.slice(-2)}`, 'netns', `${lab.name}-ul`]);
      await lab.exec('ul', ['ip', 'link', 'set', `ul-${ns.slice(-2)}`, 'master', 'ul0', 'up']);
      await sh(ns, `ip link set lo up; ip addr add ${under}/24 dev ${ns.slice(-2)}0; ip link set ${ns.slice(-2)}0 up; ${vxlanPair('vx0', 999, 4790, under, over, peerUnder)}`);
    }
    for (const [h, under, over, peerUnder] of inHosts) await lab.exec(h, ['sh', '-c', vxlanPair('bvx0', 998, 4791, under, over, peerUnder)]);
    const paths = {
      macvlan,
      bridge,
      docker: await swarm(),
      hand: { ip: '10.99.0.2', client: (argv: string[]) => sh(a, argv.join(' ')).then((r) => r.stdout), server: (argv: string[]) => sh(b, argv.join(' ')) },
      handInHosts: { ip: '10.98.0.2', client: async (argv: string[]) => (await lab.exec('h1', argv)).stdout, server: (argv: string[]) => lab.exec('h2', argv) },
    };
    type Path = keyof typeof paths;
    const names = Object.keys(paths) as Path[];
    const rounds: Array<Record<Path, PathFigures>> = [];
    for (let i = 0; i < DATAPATH_ROUNDS; i++) {
      const round: Partial<Record<Path, PathFigures>> = {};
      for (const p of names.map((_, k) => names[(k + i) % names.length] as Path)) round[p] = await iperfBetween(paths[p].client, paths[p].server, paths[p].ip);
      rounds.push(round as Record<Path, PathFigures>);
    }
    const med = (p: Path, f: keyof PathFigures) => median(rounds.map((r) => r[p][f]));
    const show = (p: Path) =>
      `TCP ${med(p, 'gbps').toFixed(2)} Gbit/s (${med(p, 'cpuPerGbps').toFixed(0)}% of a core per Gbit/s), UDP ${med(p, 'udpGbps').toFixed(2)} Gbit/s received (${med(p, 'udpLossPct').toFixed(1)}% lost), ` +
      `RTT ${med(p, 'floodRttUs').toFixed(2)} µs back to back, ${med(p, 'rttMs').toFixed(3)} ms at 10 ms intervals`;
    const ratio = (p: Path, f: 'gbps' | 'floodRttUs', to: Path) => `${(med(p, f) / med(to, f)).toFixed(3)} (rounds: ${rounds.map((r) => (r[p][f] / r[to][f]).toFixed(3)).join(' ')})`;
    console.log(`\ndata path across hosts (iperf3 TCP and UDP 5 s each; ping RTT back to back over ${FLOOD_PINGS} flood pings, and the average of 100 pings 10 ms apart, which is mostly CPU wake-up; medians of ${DATAPATH_ROUNDS} interleaved rounds; CPU is the whole machine's):`);
    console.log(`  tsnet overlay, macvlan layout (default):        ${show('macvlan')}`);
    console.log(`  tsnet overlay, bridge layout:                   ${show('bridge')}`);
    console.log(`  Docker's overlay (swarm mode):                  ${show('docker')}`);
    console.log(`  hand-made VXLAN pair, namespaces of its own:    ${show('hand')}`);
    console.log(`  hand-made VXLAN pair, in the hosts' namespaces: ${show('handInHosts')}`);
    console.log(`  TCP ratio macvlan layout / hand-made:          ${ratio('macvlan', 'gbps', 'hand')}   (target >= 0.95)`);
    console.log(`  TCP ratio bridge layout / hand-made:           ${ratio('bridge', 'gbps', 'hand')}`);
    console.log(`  TCP ratio macvlan layout / hand-made in hosts: ${ratio('macvlan', 'gbps', 'handInHosts')}`);
    console.log(`  TCP ratio Docker's overlay / hand-made:        ${ratio('docker', 'gbps', 'hand')}`);
    console.log(`  TCP ratio macvlan layout / Docker's overlay:   ${ratio('macvlan', 'gbps', 'docker')}`);
    console.log(`  RTT ratio macvlan layout / hand-made:          ${ratio('macvlan', 'floodRttUs', 'hand')}   (target <= 1.2)`);
    console.log(`  RTT ratio Docker's overlay / hand-made:        ${ratio('docker', 'floodRttUs', 'hand')}`);
    console.log(`  RTT ratio macvlan layout / Docker's overlay:   ${ratio('macvlan', 'floodRttUs', 'docker')}`);
    console.log(`  RTT ratio macvlan layout / hand-made in hosts: ${ratio('macvlan', 'floodRttUs', 'handInHosts')}`);
    console.log(`  RTT ratio hand-made in hosts / hand-made:      ${ratio('handInHosts', 'floodRttUs', 'hand')}   (what the hosts' firewall costs any VXLAN device there)`);
  } finally {
    for (const ns of [a, b]) await run(['ip', 'netns', 'delete', ns], { allowFail: true });
    for (const [h] of inHosts) await lab.exec(h, ['ip', 'link', 'delete', 'bvx0'], { allowFail: true });
    for (const [h, c] of [['h1', 'cli-br'], ['h2', 'srv-br'], ['h1', 'cli-docker'], ['h2', 'srv-docker']] as const) await lab.docker(h, ['rm', '-f', c], { allowFail: true });
    for (const h of ['h1', 'h2']) await lab.docker(h, ['network', 'rm', 'bench-br'], { allowFail: true });
    await lab.docker('h1', ['network', 'rm', 'bench-docker'], { allowFail: true });
    for (const h of ['h2', 'h1']) await lab.docker(h, ['swarm', 'leave', '--force'], { allowFail: true });
  }
}

const SCALE_ENDPOINTS = Number(process.env.BENCH_SCALE_ENDPOINTS ?? 1000);

/** A daemon's memory from the kernel's view (/proc) and V8's (process.memoryUsage via its metrics). */
async function memoryOf(lab: Lab, h: string): Promise<string> {
  const pid = (await readFile(join(lab.runDir, `${h}-tsnet.pid`), 'utf8')).trim();
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1]) / 1024;
  const metrics = (await run(['curl', '-sf', '--unix-socket', join(lab.stateDir(h), 'admin.sock'), 'http://tsnet/metrics'], { allowFail: true })).stdout;
  const gauge = (name: string) => Number(new RegExp(`^${name} ([\\d.e+]+)$`, 'm').exec(metrics)?.[1]) / 1048576;
  return `${h}: RSS ${kib('VmRSS').toFixed(0)} MiB (anonymous ${kib('RssAnon').toFixed(0)}, file-backed ${kib('RssFile').toFixed(0)}); ` +
    `V8 heap used ${gauge('nodejs_heap_size_used_bytes').toFixed(1)} of ${gauge('nodejs_heap_size_total_bytes').toFixed(1)} MiB, external ${gauge('nodejs_external_memory_bytes').toFixed(1)} MiB`;
}

/**
 * SIGUSR2 makes a daemon started with --heapsnapshot-signal write a snapshot into
 * --diagnostic-dir; the file grows while V8 writes it, so it is summarized once it parses.
 */
async function heapSummaryOf(lab: Lab, h: string): Promise<HeapSummary | undefined> {
  if (!HEAP_DIR) return undefined;
  const before = new Set(await readdir(HEAP_DIR));
  process.kill(await lab.pid(`${h}-tsnet`), 'SIGUSR2');
  for (let waited = 0; waited < 120_000; waited += 1_000) {
    await new Promise((r) => setTimeout(r, 1_000));
    const made = (await readdir(HEAP_DIR)).find((f) => !before.has(f) && f.endsWith('.heapsnapshot'));
    if (made) {
      try {
        return await summarizeHeapFile(join(HEAP_DIR, made));
      } catch (err) {
        if (!(err instanceof SyntaxError)) throw err; // still being written
      }
    }
  }
  return undefined;
}

/**
 * Restarts h1's daemon, stopped (SIGTERM) and killed (SIGKILL): how long after the new daemon
 * was spawned Docker's calls are answered (they wait for start-up's reconcile, which also
 * publishes the host's endpoints to etcd again), and whether the kernels kept every peer entry
 * meanwhile: h1's of the others' containers, and h2's of h1's (a restart is not the host
 * leaving). `peers(h)` counts the neighbour entries of h's VXLAN device; "after" is read once
 * the previous daemon's lease (10 s) has run out.
 */
async function restartFigures(lab: Lab, peers: (h: string) => Promise<number>): Promise<string[]> {
  const socket = join(lab.runDir, 'h1', 'plugins', 'tsnet.sock');
  const both = async () => `h1 ${await peers('h1')}, h2 ${await peers('h2')}`;
  const lines: string[] = [];
  for (const how of ['stop', 'kill'] as const) {
    const before = await both();
    await lab.lab(['tsnet', 'h1', how]);
    const gone = performance.now();
    await new Promise((r) => setTimeout(r, 1_000));
    const down = await both();
    const t0 = performance.now();
    await lab.lab(['tsnet', 'h1', 'start']);
    await run(['curl', '-sf', '--unix-socket', socket, '-X', 'POST', '-d', '{}', 'http://tsnet/NetworkDriver.GetCapabilities'], { timeoutMs: 120_000 });
    const answered = performance.now() - t0;
    await new Promise((r) => setTimeout(r, Math.max(0, gone + 12_000 - performance.now())));
    lines.push(`h1 ${how === 'stop' ? 'stopped' : 'killed '} and started again: Docker's calls answered ${(answered / 1000).toFixed(2)} s after the start; peer entries ${before} before, ${down} while down, ${await both()} after`);
  }
  return lines;
}

async function scale(lab: Lab): Promise<void> {
  const hosts = ['h1', 'h2', 'h3'] as const;
  const perHost = hosts.map((_, i) => Math.floor(SCALE_ENDPOINTS / 3) + (i < SCALE_ENDPOINTS % 3 ? 1 : 0));
  const peersSeen = async (h: string) => Number((await lab.exec(h, ['sh', '-c', `ip neigh show dev ${await vxlanOf(lab, h)} | grep -c 10.70.`], { allowFail: true })).stdout.trim() || 0);
  // The same restarts before the scale containers start, for comparison (start-up's own cost, lab.sh's included).
  const fewRestarts = await restartFigures(lab, peersSeen);
  console.log(`\nscale: memory before (each host has the few containers of the earlier parts):`);
  for (const h of hosts) console.log(`  ${await memoryOf(lab, h)}`);
  const started = Date.now();
  await Promise.all(hosts.map(async (h, hi) => {
    for (let i = 0; i < (perHost[hi] as number); i++) {
      await lab.docker(h, ['run', '-d', '--name', `s${i}`, '--network', 'bench', '--ip', ipAt(2000 + hi * 1000 + i), 'tsbox', 'sleep', '1d']);
    }
  }));
  const lastRun = Date.now();
  const total = perHost.reduce((a, b) => a + b, 0);
  // Every host must see every endpoint on the other hosts (plus the data-path and probe containers).
  for (;;) {
    const counts = await Promise.all(hosts.map(peersSeen));
    if (counts.every((c, i) => c >= total - (perHost[i] as number))) break;
    if (Date.now() - lastRun > 60_000) { console.log(`  not converged after 60 s: ${counts.join(', ')}`); break; }
    await new Promise((r) => setTimeout(r, 50));
  }
  const converged = Date.now();
  console.log(`scale: ${total} endpoints over 3 hosts started in ${((lastRun - started) / 1000).toFixed(1)} s; every host had every remote peer ${converged - lastRun} ms after the last docker run returned`);
  console.log(`  memory right after (target: RSS < 80 MiB per host):`);
  for (const h of hosts) console.log(`  ${await memoryOf(lab, h)}`);
  // V8's memory reducer gives back what a burst grew once the daemon has been idle a few seconds.
  await new Promise((r) => setTimeout(r, 30_000));
  console.log('  memory 30 s later, settled:');
  for (const h of hosts) console.log(`  ${await memoryOf(lab, h)}`);
  const heap = await heapSummaryOf(lab, 'h1');
  console.log(heap ? formatHeapSummary(heap) : '  no heap snapshot (BENCH_HEAP_SNAPSHOT=0, or none complete within 120 s)');
  console.log(`scale: tsnet restarts on h1, before the scale containers (only the earlier parts' few, if they ran):`);
  for (const line of fewRestarts) console.log(`  ${line}`);
  console.log(`  and with ${perHost[0]} of the ${total} endpoints on h1:`);
  for (const line of await restartFigures(lab, peersSeen)) console.log(`  ${line}`);
  await new Promise((r) => setTimeout(r, 10_000));
  console.log(`  memory of h1's new daemon 10 s later: ${await memoryOf(lab, 'h1')}`);
}

/** Heap snapshots on SIGUSR2 (node's own --heapsnapshot-signal), unless BENCH_HEAP_SNAPSHOT=0. */
const HEAP_DIR = process.env.BENCH_HEAP_SNAPSHOT === '0' ? undefined : await mkdtemp(join(tmpdir(), 'tsnet-heap-'));

async function main(): Promise<void> {
  // The lab's daemons inherit this (lab.sh passes the environment on); the bench itself is already running.
  if (HEAP_DIR) process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${HEAP_DIR}`.trim();
  const lab = await startLab(HOSTS.length);
  try {
    for (const h of HOSTS) await lab.docker(h, NET);
    if (PARTS.has('start')) await startCost(lab);
    if (PARTS.has('convergence')) await convergence(lab);
    if (PARTS.has('datapath')) await dataPath(lab);
    if (PARTS.has('scale')) await scale(lab);
  } finally {
    await lab.down();
    if (HEAP_DIR) await rm(HEAP_DIR, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
