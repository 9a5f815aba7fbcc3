import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { recover } from '../../../kvstore/local/recovery.js';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

/**
 * What the fuzzer compares before and after every input: the kernel state of the daemon's
 * network namespace and the daemon's store, each as named sections of normalised text, so a
 * difference can be shown as a line diff per section.
 */
export type Dump = Readonly<Record<string, string>>;

/**
 * The kernel sections. `ip` reads links, addresses and routes (both families: `table all`) in
 * one batch; the sysctls tsnet may write (forwarding, route_localnet, proxy ARP, IPv6 on a link)
 * are read by the shell itself. Few programs per dump, because starting one is what costs.
 */
const KERNEL_SCRIPT = `
printf 'link show\\naddr show\\nroute show table all\\n' | ip -d -batch -
echo '@@ iptables'; iptables-save
echo '@@ ip6tables'; ip6tables-save
echo '@@ sysctls'
for f in /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding /proc/sys/net/ipv4/conf/*/route_localnet \\
  /proc/sys/net/ipv4/conf/*/forwarding /proc/sys/net/ipv4/conf/*/proxy_arp /proc/sys/net/ipv6/conf/*/disable_ipv6 \\
  /proc/sys/net/ipv6/conf/*/forwarding; do
  # dash's read returns 1 on these files (no EOF after the newline) but does set v.
  if [ -r "$f" ]; then read v < "$f"; echo "$f:$v"; fi
done
`;

/**
 * A shell kept open inside the namespace: a dump costs three program starts instead of one
 * `nsenter` (slow to spawn from Node) plus eight.
 */
export class NetnsShell {
  private readonly child: ChildProcessWithoutNullStreams;
  private output = '';
  private errors = '';
  private serial = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private pending: { marker: string; resolve: (text: string) => void; reject: (err: Error) => void } | undefined;

  constructor(netnsPath: string) {
    this.child = spawn('nsenter', [`--net=${netnsPath}`, 'sh'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (chunk: Buffer) => { this.output += chunk.toString(); this.deliver(); });
    this.child.stderr.on('data', (chunk: Buffer) => { this.errors = (this.errors + chunk.toString()).slice(-2000); });
    this.child.stdin.on('error', () => undefined);
    this.child.on('exit', (code) => this.pending?.reject(new Error(`shell in ${netnsPath} exited (${code}): ${this.errors}`)));
  }

  private deliver(): void {
    const p = this.pending;
    if (!p) return;
    const at = this.output.indexOf(p.marker);
    if (at < 0) return;
    const text = this.output.slice(0, at);
    this.output = this.output.slice(at + p.marker.length);
    this.pending = undefined;
    p.resolve(text);
  }

  /** Runs a script and returns its standard output. */
  run(script: string, timeoutMs = 60_000): Promise<string> {
    const next = this.queue.then(() => new Promise<string>((resolve, reject) => {
      const marker = `@@done-${++this.serial}@@\n`;
      const timer = setTimeout(() => reject(new Error(`shell script did not finish within ${timeoutMs} ms: ${this.errors}`)), timeoutMs);
      this.pending = { marker, resolve: (t) => { clearTimeout(timer); resolve(t); }, reject: (e) => { clearTimeout(timer); reject(e); } };
      this.child.stdin.write(`${script}\necho '${marker.trim()}'\n`);
      this.deliver();
    }));
    this.queue = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.child.stdin.end();
    this.child.kill();
  }
}

/** Reads the kernel sections of a namespace through its shell. */
export async function dumpKernel(shell: NetnsShell): Promise<Dump> {
  const stdout = await shell.run(KERNEL_SCRIPT);
  const sections: Record<string, string> = {};
  const [ipPart = '', ...rest] = stdout.split(/^@@ /m);
  Object.assign(sections, splitIpBatch(ipPart));
  for (const part of rest) {
    const newline = part.indexOf('\n');
    const name = part.slice(0, newline).trim();
    sections[name] = normalise(name, part.slice(newline + 1));
  }
  return sections;
}

/**
 * Splits `ip -batch` output into links, addresses and routes: the address listing starts again
 * at interface 1, and routes are the first lines after that which are neither an interface
 * header ("N: …") nor indented.
 */
export function splitIpBatch(text: string): Record<string, string> {
  const lines = text.split('\n');
  const secondStart = lines.findIndex((l, i) => i > 0 && /^1: /.test(l));
  const links = secondStart > 0 ? lines.slice(0, secondStart) : lines;
  const after = secondStart > 0 ? lines.slice(secondStart) : [];
  const routeStart = after.findIndex((l) => l !== '' && !/^(\d+: |\s)/.test(l));
  const addresses = routeStart >= 0 ? after.slice(0, routeStart) : after;
  const routes = routeStart >= 0 ? after.slice(routeStart) : [];
  return { links: normalise('links', links.join('\n')), addresses: normalise('addresses', addresses.join('\n')), routes: normalise('routes', routes.join('\n')) };
}

/**
 * Removes what changes by itself and means nothing: bridge timers, DAD flags, iptables-save's header
 * comments and packet counters, and tables that hold only empty built-in chains with the ACCEPT
 * policy (iptables-save lists a table once anything has looked at it, e.g. `iptables -t nat -S`,
 * which is the same ruleset as no table at all).
 */
export function normalise(section: string, text: string): string {
  // Bridge timers tick; DAD flags clear a moment after an address is added. Carrier and
  // operational state (NO-CARRIER, LOWER_UP, "state UP/DOWN/LOWERLAYERDOWN", a port's STP state,
  // "linkdown" routes, topology-change flags) follow from configuration asynchronously: the
  // kernel's link watcher applies them up to a second after a veth or bridge port changes. What
  // tsnet configures (links, masters, admin UP, MTU, MACs, addresses, routes) stays compared.
  let out = text
    .replace(/ \w+_timer +[\d.]+/g, '')
    .replace(/ (tentative|optimistic)\b/g, '')
    .replace(/<([^>]*)>/g, (_, flags: string) => `<${flags.split(',').filter((f) => !['NO-CARRIER', 'LOWER_UP', 'M-DOWN', 'DORMANT'].includes(f)).join(',')}>`)
    .replace(/ state (UP|DOWN|UNKNOWN|LOWERLAYERDOWN|DORMANT|NOTPRESENT|TESTING)\b/g, '')
    .replace(/ state (disabled|listening|learning|forwarding|blocking)\b/g, '')
    .replace(/ (topology_change|topology_change_detected) \d+/g, '')
    .replace(/ linkdown\b/g, '')
    // A bridge's offload limits are the minimum over its ports, recomputed as ports come and go
    // (tso_max_size 65536 with a veth, 524280 with none): kernel-derived, not configuration.
    .replace(/ (gso|tso|gro)_max_(size|segs) \d+/g, '')
    // A link that was ever up keeps the default qdisc the kernel attached then ("noqueue" for a
    // bridge, where a never-up one shows "noop"); setting it down again cannot undo that.
    .replace(/ qdisc \S+/g, '');
  if (section === 'iptables' || section === 'ip6tables') {
    const lines = out.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/ \[\d+:\d+\]$/, ''));
    const tables: string[][] = [];
    for (const line of lines) {
      if (line.startsWith('*')) tables.push([line]);
      else if (line.trim() !== '') tables.at(-1)?.push(line);
    }
    out = tables
      .filter((t) => !t.slice(1).every((l) => l === 'COMMIT' || /^:(PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) ACCEPT$/.test(l)))
      .map((t) => t.join('\n'))
      .join('\n');
  }
  return out.trim();
}

/**
 * The state directory as files: name, size and SHA-256 of each. Equal file dumps mean an
 * untouched store; the file store writes nothing on its own (no timers: leases are used only
 * with etcd, compaction runs only after writes), so any change was caused by a call.
 */
export async function dumpStoreFiles(stateDir: string): Promise<string> {
  const names = (await readdir(stateDir).catch(() => [] as string[])).sort();
  const lines: string[] = [];
  for (const name of names) {
    const path = join(stateDir, name);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile()) { lines.push(`${name} (not a file)`); continue; }
    const hash = createHash('sha256').update(await readFile(path)).digest('hex').slice(0, 16);
    lines.push(`${name} ${info.size} ${hash}`);
  }
  return lines.join('\n');
}

/**
 * Keys that only fence concurrent writers: the IPAM rewrites `…/pools-version` (a timestamp) on
 * every pool change so that two allocations can compare-and-swap on it; it holds no state of
 * its own, so its value after create-and-release differs from before without anything being
 * left behind.
 */
const FENCE_KEY = /\/pools-version$/;

/**
 * The IPAM's allocation cursor (`…/cursor/<pool>/<host>`): allocation is serial so that a freed
 * address is the last to be reused (README, "Address management"), so the cursor stays where
 * the last allocation left it after that address is released. By design, not a leftover.
 */
const CURSOR_KEY = /\/cursor\//;

/**
 * The store's logical content (every key and value, without revisions), read the way the
 * daemon recovers it at start-up: snapshot plus write-ahead log, read-only. Needed after an
 * accepted input was undone: the log then holds the create and the delete, so the files differ
 * while the content must be what it was.
 */
export async function dumpStoreContent(stateDir: string): Promise<string> {
  const { image } = await recover(stateDir);
  // A pool's "touched" time (per host: when it last requested the pool) moves with every shared
  // RequestPool, which the fuzzer's ReleasePool cannot put back; the references themselves stay compared.
  return image.state.list('').filter((e) => !FENCE_KEY.test(e.key) && !CURSOR_KEY.test(e.key))
    .map((e) => `${e.key} = ${e.value.replace(/"touched":\{[^}]*\}/, '"touched":{…}')}`).join('\n');
}

/** Sections that differ, each with a line diff: `-` only before, `+` only after. */
export function diffDumps(before: Dump, after: Dump): Array<{ readonly section: string; readonly diff: string }> {
  const out: Array<{ section: string; diff: string }> = [];
  for (const section of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = before[section] ?? '';
    const b = after[section] ?? '';
    if (a !== b) out.push({ section, diff: lineDiff(a, b) });
  }
  return out;
}

/** A multiset line diff, in the order lines appear: enough to see what was added or removed. */
export function lineDiff(a: string, b: string): string {
  const count = new Map<string, number>();
  for (const l of a.split('\n')) count.set(l, (count.get(l) ?? 0) + 1);
  const added: string[] = [];
  for (const l of b.split('\n')) {
    const n = count.get(l) ?? 0;
    if (n > 0) count.set(l, n - 1);
    else added.push(`+ ${l}`);
  }
  const removed: string[] = [];
  for (const l of a.split('\n')) {
    const n = count.get(l) ?? 0;
    if (n > 0) { removed.push(`- ${l}`); count.set(l, n - 1); }
  }
  return [...removed, ...added].join('\n');
}
