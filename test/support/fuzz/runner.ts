import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { isMethodName, methods } from '../../../plugin-spec/methods.js';
import type { PluginReply } from '../../../plugin-spec/conformance/client.js';
import { caseArb, type Recorded } from './generators.js';
import { FuzzHost, type Snapshot } from './fuzz-host.js';
import { POOL_TOKEN, type Ctx, type FuzzCase, type SetupKind, type Step } from './model.js';

/**
 * Runs fuzz cases against a {@link FuzzHost} and checks, after every input:
 * - the daemon is alive and answers Plugin.Activate;
 * - the answer is a clear acceptance or refusal: 200 (with `Err` for NetworkDriver, `Error` for
 *   IpamDriver, naming what was wrong) or 400/404/413 with `Err`; never 500, a hang, an empty
 *   message, or raw iptables/RTNETLINK text;
 * - after a refusal, kernel (links, addresses, routes, iptables, ip6tables, sysctls) and store
 *   are exactly as before;
 * - an accepted input is undone (DeleteNetwork, DeleteEndpoint, Leave, ReleaseAddress,
 *   ReleasePool…) and then everything is as before again; an input the issue says must be
 *   refused is not accepted.
 * Violations are grouped by class; each class keeps its count and its smallest input.
 */

/** One broken invariant. */
export interface Violation {
  /** What was broken, for which method, where: the grouping key. */
  readonly cls: string;
  readonly method: string;
  readonly setup: SetupKind;
  /** The request body as sent (shortened for display). */
  readonly input: string;
  readonly note: string | undefined;
  /** The answer: status and body. */
  readonly answer: string;
  /** Why: which dump differed and how, or what was wrong with the answer. */
  readonly detail: string;
  /** Size of the input, to keep the smallest example of a class. */
  readonly size: number;
}

export interface ViolationClass {
  count: number;
  example: Violation;
}

export interface FuzzStats {
  inputs: number;
  cases: number;
  accepted: number;
  /** Refusals by answer: "200 Err", "200 Error", "400", "404", "413". */
  refused: Record<string, number>;
  /** Inputs by origin: schema, fixture, sequence. */
  origins: Record<string, number>;
  /** Every method fuzzed, with its input count. */
  methods: Record<string, number>;
  violations: number;
  classes: Map<string, ViolationClass>;
  /** Times the namespace and daemon were rebuilt because state could not be put back. */
  resets: number;
  ms: number;
  /** Where the time went: setup, fuzzed calls, undo, snapshots, teardown, resets (ms). */
  phases: Record<string, number>;
}

export interface FuzzOptions {
  /** Stop after this many fuzzed inputs (setup, undo and teardown calls are not counted). */
  readonly inputs: number;
  readonly seed: number;
  readonly recorded: readonly Recorded[];
  /** Progress lines. */
  readonly progress?: (line: string) => void;
  readonly progressEvery?: number;
  /** Stops the run after the case in progress (the counts so far stand). */
  readonly signal?: AbortSignal;
}

/** Recorded requests from every `*.jsonl` in the given directories (missing ones are skipped). */
export function loadRecorded(dirs: readonly string[]): Recorded[] {
  const out: Recorded[] = [];
  for (const dir of dirs) {
    let names: string[];
    try { names = readdirSync(dir).filter((n) => n.endsWith('.jsonl')).sort(); } catch { continue; }
    for (const name of names) {
      readFileSync(join(dir, name), 'utf8').split('\n').forEach((line, i) => {
        if (!line.trim()) return;
        const rec = JSON.parse(line) as { method: string; body: string };
        out.push({ method: rec.method, body: rec.body, source: `${name}:${i + 1}` });
      });
    }
  }
  return out;
}

export function emptyStats(): FuzzStats {
  return { inputs: 0, cases: 0, accepted: 0, refused: {}, origins: {}, methods: {}, violations: 0, classes: new Map(), resets: 0, ms: 0, phases: {} };
}

// ---------------------------------------------------------------- answers

type Answer =
  | { readonly kind: 'accepted'; readonly json: Record<string, unknown> }
  | { readonly kind: 'refused'; readonly as: string; readonly message: string }
  | { readonly kind: 'bad'; readonly what: string; readonly detail: string };

/** Markers of text copied from iproute2, iptables, the kernel or Node, unexplained. */
const RAW_TOOL_TEXT = /RTNETLINK answers|ip6?tables(-restore|-save|-legacy|-nft)?( v[\d.]+)?(\s\(nf_tables\))?:|Bad argument|Try `ip6?tables -h'|Cannot find device|Cannot assign (requested|loopback)|^Error: |Command failed|exited with code|nsenter:|\bE[A-Z]{3,}\b:|at [\w.<>]+ \(.*:\d+:\d+\)|\[object Object\]|undefined is not|Cannot read prop/m;

function classify(method: string, reply: PluginReply): Answer {
  const ipam = method.startsWith('IpamDriver.');
  const { status, json, text } = reply;
  if (status === 200) {
    if (!json) return { kind: 'bad', what: 'answer is not a JSON object', detail: text.slice(0, 300) };
    const field = ipam ? 'Error' : 'Err';
    const other = ipam ? 'Err' : 'Error';
    const message = json[field];
    if (typeof message === 'string' && message !== '') return { kind: 'refused', as: `200 ${field}`, message };
    if (message !== undefined && message !== '') return { kind: 'bad', what: `${field} is not a string`, detail: text.slice(0, 300) };
    if (typeof json[other] === 'string' && json[other] !== '') {
      // Docker reads IPAM refusals from Error and NetworkDriver ones from Err: the other field is taken for success.
      return { kind: 'bad', what: `refusal in ${other}, which Docker does not read for ${method.split('.')[0]}`, detail: text.slice(0, 300) };
    }
    return { kind: 'accepted', json };
  }
  if (status === 400 || status === 404 || status === 413) {
    const message = json?.Err;
    if (typeof message === 'string' && message.trim() !== '') return { kind: 'refused', as: String(status), message };
    return { kind: 'bad', what: `HTTP ${status} without an Err message`, detail: text.slice(0, 300) };
  }
  return { kind: 'bad', what: `HTTP ${status}`, detail: text.slice(0, 300) };
}

/** Words a message may use for a field (its CamelCase parts, and the words users know). */
const FIELD_WORDS: Readonly<Record<string, readonly string[]>> = {
  NetworkID: ['network'], EndpointID: ['endpoint'], PoolID: ['pool'], Pool: ['pool', 'subnet', 'network'], SubPool: ['pool', 'range', 'subnet'],
  Gateway: ['gateway'], AuxAddresses: ['aux'], IPv4Data: ['pool', 'ipv4', 'subnet'], IPv6Data: ['pool', 'ipv6', 'subnet'], SandboxKey: ['sandbox'],
  MacAddress: ['mac'], Address: ['address'], AddressIPv6: ['address', 'ipv6'], HostIP: ['host', 'address'], HostPort: ['port'], HostPortEnd: ['port'],
  Port: ['port'], Proto: ['proto'], AddressSpace: ['address space', 'addressspace'], V6: ['v6', 'ipv6'], Options: ['option'], Interface: ['interface', 'address'],
  DiscoveryType: ['discovery'], DiscoveryData: ['discovery'], IP: ['ip'],
};

/** Whether a refusal mentions the one field (or value) the input got wrong. */
function namesInput(message: string, path: string, value: unknown): boolean {
  const lower = message.toLowerCase();
  const segments = path.replace(/\[\d+\]/g, '').split('.').filter((seg) => seg !== '' && !/^\d+$/.test(seg));
  const keyMatch = /^<key "(.*)"(?:…\(\d+\))?>$/.exec(segments.at(-1) ?? '');
  const words = new Set<string>();
  for (const seg of segments.slice(-2)) {
    for (const w of FIELD_WORDS[seg] ?? []) words.add(w);
    for (const w of seg.split(/(?=[A-Z])|[._-]/)) if (w.length >= 3) words.add(w.toLowerCase());
  }
  if (keyMatch?.[1] !== undefined && keyMatch[1].length > 0) words.add(keyMatch[1].slice(0, 40).toLowerCase());
  if (typeof value === 'string' && value.trim().length > 0) {
    words.add(value.slice(0, 30).toLowerCase());
    words.add(JSON.stringify(value.slice(0, 30)).slice(1, -1).toLowerCase());
  } else if (typeof value === 'number' || typeof value === 'boolean') words.add(String(value));
  return [...words].some((w) => w.length > 0 && lower.includes(w));
}

// ---------------------------------------------------------------- the run

const shorten = (s: string | undefined, n = 600) => (s === undefined ? '(empty body)' : s.length > n ? `${s.slice(0, n)}…(${s.length} bytes)` : s);
const slotShape = (path: string) => path.replace(/\[\d+\]/g, '[]').replace(/<key "(.*?)"(…\(\d+\))?>/, '<key>');

/** Docker's calls that build each setup, and the calls that take it down again (in order). */
function setupCalls(kind: SetupKind, ctx: Ctx): { up: Array<{ method: string; body: unknown }>; down: Array<{ method: string; body: unknown }> } {
  const { netId, epId, net, net6, sandboxKey } = ctx;
  const hostPort = 24000 + Number(net.split('.')[2]);
  const network = (extra: Record<string, unknown>, v6: boolean) => ({
    NetworkID: netId,
    Options: { 'com.docker.network.enable_ipv6': v6, 'com.docker.network.generic': extra },
    IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: `${net}.0/24`, Gateway: `${net}.1/24` }],
    IPv6Data: v6 ? [{ AddressSpace: 'LocalDefault', Pool: `${net6}::/64`, Gateway: `${net6}::1/64` }] : [],
  });
  const up: Array<{ method: string; body: unknown }> = [];
  const down: Array<{ method: string; body: unknown }> = [];
  const add = (method: string, body: unknown, undoMethod: string, undoBody: unknown) => { up.push({ method, body }); down.unshift({ method: undoMethod, body: undoBody }); };
  const ids = { NetworkID: netId, EndpointID: epId };
  if (kind === 'pool') {
    add('IpamDriver.RequestPool', { AddressSpace: 'tsnet-local', Pool: `${net}.0/24`, SubPool: '', Options: {}, V6: false }, 'IpamDriver.ReleasePool', { PoolID: POOL_TOKEN });
    add('IpamDriver.RequestAddress', { PoolID: POOL_TOKEN, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } }, 'IpamDriver.ReleaseAddress', { PoolID: POOL_TOKEN, Address: `${net}.1` });
  }
  if (kind === 'network' || kind === 'endpoint' || kind === 'joined' || kind === 'published') add('NetworkDriver.CreateNetwork', network({}, false), 'NetworkDriver.DeleteNetwork', { NetworkID: netId });
  if (kind === 'network-dual') add('NetworkDriver.CreateNetwork', network({}, true), 'NetworkDriver.DeleteNetwork', { NetworkID: netId });
  if (kind === 'network-adopt') add('NetworkDriver.CreateNetwork', network({ 'com.docker.network.bridge.name': 'brx0' }, false), 'NetworkDriver.DeleteNetwork', { NetworkID: netId });
  if (kind === 'endpoint' || kind === 'joined' || kind === 'published') {
    add('NetworkDriver.CreateEndpoint', { ...ids, Interface: { Address: `${net}.2/24`, AddressIPv6: '', MacAddress: '' }, Options: {} }, 'NetworkDriver.DeleteEndpoint', ids);
  }
  if (kind === 'joined' || kind === 'published') add('NetworkDriver.Join', { ...ids, SandboxKey: sandboxKey, Options: {} }, 'NetworkDriver.Leave', ids);
  if (kind === 'published') {
    add('NetworkDriver.ProgramExternalConnectivity', { ...ids, Options: { 'com.docker.network.portmap': [{ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: hostPort, HostPortEnd: hostPort }] } },
      'NetworkDriver.RevokeExternalConnectivity', ids);
  }
  return { up, down };
}

/** What the setup holds, to tell an undo (a new object) from a disturbance (a setup object removed). */
interface Live {
  readonly networks: Set<string>;
  readonly endpoints: Set<string>;
  readonly joined: Set<string>;
  readonly published: Set<string>;
  readonly pools: Set<string>;
  readonly addresses: Set<string>;
}

function liveOf(kind: SetupKind, ctx: Ctx, poolId: string): Live {
  const ep = `${ctx.netId}/${ctx.epId}`;
  const has = (...kinds: SetupKind[]) => kinds.includes(kind);
  return {
    networks: new Set(has('network', 'network-dual', 'network-adopt', 'endpoint', 'joined', 'published') ? [ctx.netId] : []),
    endpoints: new Set(has('endpoint', 'joined', 'published') ? [ep] : []),
    joined: new Set(has('joined', 'published') ? [ep] : []),
    published: new Set(has('published') ? [ep] : []),
    pools: new Set(has('pool') ? [poolId] : []),
    addresses: new Set(has('pool') ? [`${poolId}|${ctx.net}.1`] : []),
  };
}

type Undo = { readonly calls: Array<{ method: string; body: unknown }>; readonly disturbs: boolean };

/** How to take back an accepted call, or whether it removed part of the setup. */
function undoOf(method: string, body: unknown, reply: Record<string, unknown>, live: Live, setupUp: ReadonlyArray<{ method: string; body: unknown }>): Undo {
  const b = (body && typeof body === 'object' && !Array.isArray(body) ? body : {}) as Record<string, unknown>;
  const net = String(b.NetworkID);
  const ep = `${net}/${String(b.EndpointID)}`;
  const ids = { NetworkID: b.NetworkID, EndpointID: b.EndpointID };
  const none: Undo = { calls: [], disturbs: false };
  switch (method) {
    case 'NetworkDriver.CreateNetwork': return live.networks.has(net) ? none : { calls: [{ method: 'NetworkDriver.DeleteNetwork', body: { NetworkID: b.NetworkID } }], disturbs: false };
    case 'NetworkDriver.AllocateNetwork': return { calls: [{ method: 'NetworkDriver.FreeNetwork', body: { NetworkID: b.NetworkID } }], disturbs: false };
    case 'NetworkDriver.CreateEndpoint': return live.endpoints.has(ep) ? none : { calls: [{ method: 'NetworkDriver.DeleteEndpoint', body: ids }], disturbs: false };
    // Leave does not take a setup's endpoint back to before its Join: it is "left" then, as in
    // Docker, and can only be deleted (a new endpoint may take its address or port).
    case 'NetworkDriver.Join': return live.joined.has(ep) ? none : { calls: [{ method: 'NetworkDriver.Leave', body: ids }], disturbs: live.endpoints.has(ep) };
    case 'NetworkDriver.ProgramExternalConnectivity': {
      if (!live.published.has(ep)) return { calls: [{ method: 'NetworkDriver.RevokeExternalConnectivity', body: ids }], disturbs: false };
      // Docker may re-send it with other ports; the setup's own call puts the original back.
      const original = setupUp.find((c) => c.method === method);
      return { calls: [{ method: 'NetworkDriver.RevokeExternalConnectivity', body: ids }, ...(original ? [original] : [])], disturbs: false };
    }
    case 'IpamDriver.RequestPool': return { calls: [{ method: 'IpamDriver.ReleasePool', body: { PoolID: reply.PoolID } }], disturbs: false };
    case 'IpamDriver.RequestAddress': {
      const address = typeof reply.Address === 'string' ? reply.Address.split('/')[0] : undefined;
      return address ? { calls: [{ method: 'IpamDriver.ReleaseAddress', body: { PoolID: b.PoolID, Address: address } }], disturbs: false } : none;
    }
    case 'NetworkDriver.DeleteNetwork': return { calls: [], disturbs: live.networks.has(net) };
    case 'NetworkDriver.DeleteEndpoint': return { calls: [], disturbs: live.endpoints.has(ep) };
    case 'NetworkDriver.Leave': return { calls: [], disturbs: live.joined.has(ep) };
    case 'NetworkDriver.RevokeExternalConnectivity': return { calls: [], disturbs: live.published.has(ep) };
    case 'IpamDriver.ReleasePool': return { calls: [], disturbs: live.pools.has(String(b.PoolID)) };
    case 'IpamDriver.ReleaseAddress': return { calls: [], disturbs: live.addresses.has(`${String(b.PoolID)}|${String(b.Address)}`) };
    default: return none;
  }
}

/** The fuzzer proper: one host, cases in order. */
export class Fuzzer {
  readonly stats = emptyStats();
  private baseline: Snapshot | undefined;

  constructor(private readonly host: FuzzHost, private readonly options: FuzzOptions) {}

  /** Generates the cases from the seed and runs them until `inputs` inputs were sent. */
  async run(): Promise<FuzzStats> {
    const started = performance.now();
    const { inputs, seed, progress, progressEvery = 500 } = this.options;
    // Cases average about two inputs; generate in batches until the budget is spent.
    let nextReport = progressEvery;
    let batch = 0;
    while (this.stats.inputs < inputs && !this.options.signal?.aborted) {
      const cases = fc.sample(caseArb(this.options.recorded), { numRuns: 200, seed: seed + batch++ });
      for (const c of cases) {
        if (this.stats.inputs >= inputs || this.options.signal?.aborted) break;
        await this.runCase(c);
        if (progress && this.stats.inputs >= nextReport) {
          nextReport += progressEvery;
          progress(`${this.stats.inputs} inputs, ${this.stats.cases} cases, ${this.stats.violations} violations in ${this.stats.classes.size} classes, ${this.stats.resets} resets, ${Math.round((performance.now() - started) / 1000)} s`);
        }
      }
    }
    this.stats.ms = performance.now() - started;
    return this.stats;
  }

  private async timed<T>(phase: string, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.stats.phases[phase] = (this.stats.phases[phase] ?? 0) + performance.now() - started;
    }
  }

  private record(v: Omit<Violation, 'size'>): void {
    const violation: Violation = { ...v, size: v.input.length + v.setup.length };
    this.stats.violations++;
    const existing = this.stats.classes.get(v.cls);
    if (!existing) this.stats.classes.set(v.cls, { count: 1, example: violation });
    else {
      existing.count++;
      if (violation.size < existing.example.size) existing.example = violation;
    }
  }

  private async baselineSnapshot(): Promise<Snapshot> {
    return this.host.snapshot();
  }

  private async resetHost(): Promise<void> {
    this.stats.resets++;
    await this.timed('resets', () => this.host.reset());
    this.baseline = undefined;
  }

  /** One case: setup, fuzzed steps (each checked and undone), teardown, back to the baseline. */
  async runCase(c: FuzzCase): Promise<void> {
    this.stats.cases++;
    this.baseline ??= await this.baselineSnapshot();
    const base0 = this.baseline;
    const content0 = () => this.host.contentOf(base0);
    const { up, down } = setupCalls(c.setup, c.ctx);
    let poolId = 'tsnet-local/none/';
    const subst = (text: string | undefined) => text?.split(POOL_TOKEN).join(poolId);
    const callJson = async (method: string, body: unknown) => this.host.call(method, subst(JSON.stringify(body)));

    // 1. Setup, exactly as Docker would do it; a refusal here is reported and ends the case.
    for (const s of up) {
      const reply = await this.timed('setup', () => callJson(s.method, s.body)).catch((err: Error) => ({ status: 0, json: undefined, text: err.message }));
      const answer = classify(s.method, reply);
      if (answer.kind !== 'accepted') {
        this.record({ cls: `setup call refused | ${s.method} | setup ${c.setup}`, method: s.method, setup: c.setup, input: shorten(subst(JSON.stringify(s.body))), note: 'a valid call as Docker makes it', answer: `${reply.status} ${shorten(reply.text, 400)}`, detail: 'the fuzzer could not build the setup' });
        await this.teardown(c, down, subst, base0, content0, 'after a refused setup');
        return;
      }
      if (s.method === 'IpamDriver.RequestPool') poolId = String(answer.json.PoolID);
    }
    const live = liveOf(c.setup, c.ctx, poolId);
    if (up.length > 0) await this.timed('snapshots', () => this.host.storeSettled());
    const caseBase = up.length > 0 ? await this.timed('snapshots', () => this.baselineSnapshot()) : base0;
    const caseContent = () => this.host.contentOf(caseBase);
    // The store's files as they are now (earlier cases wrote to it), for the refusal checks.
    let files = up.length > 0 ? caseBase.files : await this.host.storeFiles();

    // 2. The fuzzed steps.
    for (const step of c.steps) {
      this.stats.inputs++;
      this.stats.origins[step.origin] = (this.stats.origins[step.origin] ?? 0) + 1;
      this.stats.methods[step.method] = (this.stats.methods[step.method] ?? 0) + 1;
      const body = subst(step.body);
      const report = (cls: string, answer: string, detail: string) =>
        this.record({ cls, method: step.method, setup: c.setup, input: shorten(body), note: step.note, answer, detail });
      let reply: PluginReply;
      try {
        reply = await this.timed('calls', () => this.host.call(step.method, body));
      } catch (err) {
        const what = /no reply within/.test((err as Error).message) ? 'no answer within 40 s (hang)' : 'no answer';
        report(`${what} | ${step.method}`, '(none)', (err as Error).message);
        if (!(await this.host.alive())) report(`daemon dead or not answering Plugin.Activate | after ${step.method}`, '(none)', (err as Error).message);
        await this.resetHost();
        return;
      }
      const shownAnswer = `${reply.status} ${shorten(reply.text, 500)}`;
      if (!(await this.host.alive())) {
        report(`daemon dead or not answering Plugin.Activate | after ${step.method}`, shownAnswer, 'Plugin.Activate failed after this input');
        await this.resetHost();
        return;
      }
      const answer = classify(step.method, reply);
      if (answer.kind === 'bad') {
        report(`unclear answer: ${answer.what} | ${step.method}`, shownAnswer, answer.detail);
      }
      if (answer.kind === 'refused') {
        this.stats.refused[answer.as] = (this.stats.refused[answer.as] ?? 0) + 1;
        this.checkMessage(step, answer.as, answer.message, report, shownAnswer);
      }
      if (answer.kind === 'accepted') {
        this.stats.accepted++;
        const reasons = [step.mustRefuse, ...step.hostile.map((h) => h.mustRefuse)].filter((r): r is string => Boolean(r));
        for (const reason of new Set(reasons)) report(`accepted, must be refused: ${reason} | ${step.method}`, shownAnswer, `hostile slots: ${step.hostile.map((h) => `${h.path}=${shorten(JSON.stringify(h.value), 80)}`).join(', ') || '(sequence rule)'}`);
        this.checkReply(step, body, answer.json, report, shownAnswer);
      }

      if (answer.kind !== 'accepted') {
        // Refused (or unclear): nothing may have changed.
        const { diffs, now } = await this.timed('snapshots', () => this.host.differences({ ...caseBase, files }, caseContent));
        if (diffs.length > 0) {
          const shape = step.hostile.map((h) => slotShape(h.path))[0] ?? step.note ?? '';
          report(`state changed by a refused call | ${step.method} | ${diffs.map((d) => d.section).join(',')} | ${shape}`, shownAnswer, diffs.map((d) => `[${d.section}]\n${d.diff}`).join('\n'));
          if (diffs.some((d) => d.section !== 'store-files')) {
            await this.teardown(c, down, subst, base0, content0, `after ${step.method} changed state although refused`);
            return;
          }
        }
        files = now.files;
        continue;
      }

      // Accepted: undo, then everything must be as before.
      let parsed: unknown;
      try { parsed = body === undefined || body.trim() === '' ? undefined : JSON.parse(body); } catch { parsed = undefined; }
      const undo = undoOf(step.method, parsed, answer.json, live, up);
      if (undo.disturbs) {
        await this.teardown(c, down, subst, base0, content0, `after the accepted ${step.method} removed part of the setup`);
        return;
      }
      for (const u of undo.calls) {
        const r = await this.timed('undo', () => this.host.call(u.method, JSON.stringify(u.body))).catch((err: Error) => ({ status: 0, json: undefined, text: err.message }));
        const a = classify(u.method, r);
        if (a.kind !== 'accepted') report(`undo refused: ${u.method} after an accepted ${step.method}`, shownAnswer, `${u.method} ${shorten(JSON.stringify(u.body), 300)} → ${r.status} ${shorten(r.text, 300)}`);
      }
      await this.timed('snapshots', () => this.host.storeSettled());
      const { diffs, now } = await this.timed('snapshots', () => this.host.differences({ ...caseBase, files }, caseContent));
      const real = diffs.filter((d) => d.section !== 'store-files');
      if (real.length > 0) {
        const shape = step.hostile.map((h) => slotShape(h.path))[0] ?? step.note ?? '';
        report(`state left behind by an accepted call after its undo | ${step.method} | ${real.map((d) => d.section).join(',')} | ${shape}`, shownAnswer,
          `undone with ${undo.calls.map((u) => u.method).join(', ') || '(nothing to undo)'}\n${real.map((d) => `[${d.section}]\n${d.diff}`).join('\n')}`);
        await this.teardown(c, down, subst, base0, content0, `after an accepted ${step.method} left state behind`);
        return;
      }
      files = now.files;
    }

    // 3. Teardown, back to the baseline.
    if (up.length > 0) await this.teardown(c, down, subst, base0, content0, 'after the case');
  }

  /** Takes the setup down (refusals tolerated: a step may have removed part of it) and compares with the baseline. */
  private async teardown(c: FuzzCase, down: ReadonlyArray<{ method: string; body: unknown }>, subst: (t: string | undefined) => string | undefined,
    base0: Snapshot, content0: () => Promise<string>, when: string): Promise<void> {
    await this.timed('teardown', async () => {
      for (const d of down) await this.host.call(d.method, subst(JSON.stringify(d.body))).catch(() => undefined);
    });
    if (!(await this.host.alive())) {
      this.record({ cls: `daemon dead or not answering Plugin.Activate | teardown`, method: '(teardown)', setup: c.setup, input: shorten(JSON.stringify(c.steps.map((s) => s.method))), note: when, answer: '(none)', detail: '' });
      await this.resetHost();
      return;
    }
    await this.timed('snapshots', () => this.host.storeSettled());
    const { diffs } = await this.timed('snapshots', () => this.host.differences(base0, content0));
    const real = diffs.filter((d) => d.section !== 'store-files');
    if (real.length > 0) {
      const steps = c.steps.map((s) => s.method.split('.')[1]).join(',');
      this.record({
        cls: `state left behind after teardown | setup ${c.setup} | ${real.map((d) => d.section).join(',')}${when === 'after the case' ? '' : ` | ${when.replace(/[0-9a-f]{64}/g, '…')}`}`,
        method: '(teardown)', setup: c.setup, input: shorten(JSON.stringify(c.steps.map((s) => ({ method: s.method, body: subst(s.body) }))), 1500),
        note: `steps: ${steps}; ${when}`, answer: '(teardown)', detail: real.map((d) => `[${d.section}]\n${d.diff}`).join('\n'),
      });
      await this.resetHost();
    }
  }

  private checkMessage(step: Step, as: string, message: string, report: (cls: string, answer: string, detail: string) => void, shownAnswer: string): void {
    const raw = RAW_TOOL_TEXT.exec(message);
    if (raw) report(`refusal quotes raw tool or runtime text ("${raw[0].trim()}") | ${step.method}`, shownAnswer, message);
    // Whether the message names what was wrong is checked where that is decidable: one hostile
    // slot, and a refusal by the schema (4xx) or, for a 200 refusal, one about a value rather
    // than about an object that does not exist or conflicts (which may be the real reason).
    const slots = step.hostile.filter((h) => h.path !== '(body)');
    // For a 200 refusal only slots whose value alone decides (network options, endpoint and pool
    // addresses); elsewhere a valid-looking neighbour (V6 against the pool's family) may be the reason.
    const aboutSomethingElse = /has no |not one tsnet issued|already|overlaps|in use|does not exist|not found/i.test(message);
    const decisive = (path: string) => /^(Options\.com\.docker\.network\.generic|Interface\.|IPv[46]Data\[\d+\]\.(Pool|Gateway))/.test(path);
    const checkable = as.startsWith('200') ? !aboutSomethingElse && slots.every((h) => decisive(h.path)) : true;
    if (slots.length === 1 && step.hostile.length === 1 && checkable) {
      const [only] = slots as [typeof slots[number]];
      if (!namesInput(message, only.path, only.value)) report(`refusal does not name the field or value at fault | ${step.method} | ${slotShape(only.path)}`, shownAnswer, `hostile slot ${only.path} = ${shorten(JSON.stringify(only.value), 100)}; message: ${message}`);
    }
  }

  /** An accepted answer must have the shape Docker expects, and may set only what Docker left empty. */
  private checkReply(step: Step, body: string | undefined, json: Record<string, unknown>, report: (cls: string, answer: string, detail: string) => void, shownAnswer: string): void {
    if (!isMethodName(step.method)) return;
    const parsed = methods[step.method].response.safeParse(json);
    if (!parsed.success) report(`accepted answer does not match the reply schema | ${step.method}`, shownAnswer, parsed.error.message.slice(0, 400));
    if (step.method === 'NetworkDriver.CreateEndpoint') {
      let request: { Interface?: Record<string, unknown> } | undefined;
      try { request = JSON.parse(body ?? '') as typeof request; } catch { request = undefined; }
      const given = request?.Interface && typeof request.Interface === 'object' ? request.Interface : {};
      const returned = (json.Interface && typeof json.Interface === 'object' ? json.Interface : {}) as Record<string, unknown>;
      for (const field of ['Address', 'AddressIPv6', 'MacAddress']) {
        if (returned[field] && given[field]) report(`CreateEndpoint answer sets ${field}, which Docker supplied (Docker rolls the endpoint back) | ${step.method}`, shownAnswer, `request ${field}=${String(given[field])}`);
      }
    }
  }
}

/** The violation classes as text: one block per class, with its smallest input. */
export function formatViolations(stats: FuzzStats): string {
  const blocks: string[] = [];
  const sorted = [...stats.classes.entries()].sort((a, b) => b[1].count - a[1].count);
  for (const [cls, { count, example }] of sorted) {
    blocks.push([
      `● ${cls}   (${count}×)`,
      `  setup:  ${example.setup}`,
      `  input:  ${example.method} ${example.input}`,
      ...(example.note ? [`  note:   ${example.note}`] : []),
      `  answer: ${example.answer}`,
      `  detail: ${example.detail.split('\n').slice(0, 25).join('\n          ')}`,
    ].join('\n'));
  }
  return blocks.join('\n\n');
}

/** Counts as text: inputs, accepted, refused by class, violations. */
export function formatCounts(stats: FuzzStats, seed: number): string {
  const refused = Object.values(stats.refused).reduce((a, b) => a + b, 0);
  return [
    `seed ${seed}: ${stats.inputs} inputs in ${stats.cases} cases, ${Math.round(stats.ms / 1000)} s (${stats.resets} resets of namespace and daemon)`,
    `  accepted ${stats.accepted}, refused ${refused}: ${Object.entries(stats.refused).sort().map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `  by origin: ${Object.entries(stats.origins).sort().map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `  methods: ${Object.entries(stats.methods).sort().map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `  time by phase (s): ${Object.entries(stats.phases).sort().map(([k, v]) => `${k} ${Math.round(v / 100) / 10}`).join(', ')}`,
    `  violations ${stats.violations} in ${stats.classes.size} classes`,
  ].join('\n');
}
