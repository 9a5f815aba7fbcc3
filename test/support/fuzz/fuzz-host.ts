import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { postPlugin, type PluginReply } from '../../../plugin-spec/conformance/client.js';
import { run } from '../exec.js';
import { createNetns, deleteNetns, netnsPath, uniqueNetnsName } from '../netns.js';
import { startTsnetDaemon, type TsnetDaemon } from '../tsnet-daemon.js';
import { NetnsShell, diffDumps, dumpKernel, dumpStoreContent, dumpStoreFiles, type Dump } from './dumps.js';

/**
 * A tsnet daemon alone in a network namespace made for the fuzzer, with a little furniture a
 * real host has (an uplink with an address and a default route, an unrelated bridge that a
 * network may adopt, forwarding on, FORWARD policy DROP as dockerd leaves it), and snapshots of
 * everything the daemon could change. Nothing outside the namespace and the scratch directory is
 * touched; no dockerd is needed (requests are made as dockerd makes them).
 */
export class FuzzHost {
  private daemon: TsnetDaemon | undefined;
  private shell: NetnsShell | undefined;
  private ns = '';
  private generation = 0;

  private constructor(private readonly dir: string, private readonly purpose: string) {}

  /**
   * Creates the namespace and starts the daemon. `dir` is scratch space owned by the caller.
   * `register` receives the host before anything is created, so the caller can always stop it;
   * a failed start undoes itself too.
   */
  static async start(dir: string, purpose = 'fuzz', register?: (host: FuzzHost) => void): Promise<FuzzHost> {
    const host = new FuzzHost(dir, purpose);
    register?.(host);
    try {
      await host.up();
    } catch (err) {
      await host.stop().catch(() => undefined);
      throw err;
    }
    return host;
  }

  get socketPath(): string { return this.daemon?.socketPath ?? ''; }
  get netnsPath(): string { return netnsPath(this.ns); }
  get stateDir(): string { return this.daemon?.stateDir ?? ''; }
  get logFile(): string { return this.daemon?.process.logFile ?? ''; }
  isRunning(): boolean { return this.daemon?.process.isRunning() ?? false; }

  private async up(): Promise<void> {
    this.generation++;
    this.ns = uniqueNetnsName(this.purpose);
    const place = { netnsPath: netnsPath(this.ns), pluginsDir: join(this.dir, `plugins-${this.generation}`), dir: this.dir };
    await mkdir(place.pluginsDir, { recursive: true });
    await createNetns(this.ns);
    await furnish(this.ns);
    this.shell = new NetnsShell(netnsPath(this.ns));
    // No dockerd here: startTsnetDaemon passes --docker-host none, so the convergence with Docker
    // never asks the machine's own dockerd (if any) about the fuzzer's networks.
    this.daemon = await startTsnetDaemon(place, { stateDir: join(this.dir, `state-${this.generation}`), name: `tsnet-${this.generation}` });
  }

  /** Stops the daemon and removes the namespace; idempotent. */
  async stop(): Promise<void> {
    const daemon = this.daemon;
    this.daemon = undefined;
    this.shell?.close();
    this.shell = undefined;
    await daemon?.process.stop(10_000);
    if (this.ns) await deleteNetns(this.ns);
    if (daemon) await rm(daemon.stateDir, { recursive: true, force: true });
  }

  /** A fresh namespace, state directory and daemon, after state that could not be put back. */
  async reset(): Promise<void> {
    await this.stop();
    await this.up();
  }

  async call(method: string, body: string | undefined, timeoutMs = 40_000): Promise<PluginReply> {
    return postPlugin(this.socketPath, method, body, { timeoutMs });
  }

  /** True when the daemon runs and answers Plugin.Activate as it should. */
  async alive(): Promise<boolean> {
    if (!this.isRunning()) return false;
    const reply = await this.call('Plugin.Activate', undefined, 15_000).catch(() => undefined);
    return reply?.status === 200 && Array.isArray(reply.json?.Implements);
  }

  /** The store's files alone (cheap). */
  async storeFiles(): Promise<string> {
    return dumpStoreFiles(this.stateDir);
  }

  /**
   * Waits until the store's files stop changing. After a call that created something, the
   * daemon writes once more shortly after its reply went out (it clears the call's
   * "unanswered" marker, batched some milliseconds later: src/cnm/repository.ts `answered`), so
   * a snapshot taken at once would see that write land during the next input.
   */
  async storeSettled(): Promise<void> {
    // Settled = unchanged over three reads 50 ms apart (a batched write can land ~10 ms after
    // the reply, later on a loaded host); at most 2 s.
    let last = await this.storeFiles();
    let stable = 0;
    for (let i = 0; i < 40 && stable < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const now = await this.storeFiles();
      stable = now === last ? stable + 1 : 0;
      last = now;
    }
  }

  async snapshot(): Promise<Snapshot> {
    if (!this.shell) throw new Error('the fuzz host is stopped');
    const [kernel, files] = await Promise.all([dumpKernel(this.shell), dumpStoreFiles(this.stateDir)]);
    return { kernel, files, content: undefined };
  }

  /** The store's logical content, read once per snapshot and only when files differ. */
  async contentOf(snapshot: Snapshot): Promise<string> {
    snapshot.content ??= await dumpStoreContent(this.stateDir);
    return snapshot.content;
  }

  /**
   * What differs between `expected` and now, kernel sections and the store ("store" = logical
   * content, "store-files" = same content but the files changed). Settles first: the kernel
   * finishes some changes after the call that caused them (IPv6 DAD, link state), so a
   * difference is confirmed by two more reads before it counts.
   */
  async differences(expected: Snapshot, expectedContent: () => Promise<string>): Promise<{ diffs: Array<{ section: string; diff: string }>; now: Snapshot }> {
    let now = await this.snapshot();
    let diffs = await this.compare(expected, now, expectedContent);
    for (const waitMs of [150, 600]) {
      if (diffs.length === 0) break;
      await new Promise((r) => setTimeout(r, waitMs));
      now = await this.snapshot();
      diffs = await this.compare(expected, now, expectedContent);
    }
    return { diffs, now };
  }

  private async compare(expected: Snapshot, now: Snapshot, expectedContent: () => Promise<string>): Promise<Array<{ section: string; diff: string }>> {
    const diffs = diffDumps(expected.kernel, now.kernel);
    if (expected.files !== now.files) {
      const [before, after] = [await expectedContent(), await this.contentOf(now)];
      diffs.push(before === after
        ? { section: 'store-files', diff: diffDumps({ files: expected.files }, { files: now.files })[0]?.diff ?? '' }
        : { section: 'store', diff: diffDumps({ store: before }, { store: after })[0]?.diff ?? '' });
    }
    return diffs;
  }
}

export interface Snapshot {
  readonly kernel: Dump;
  readonly files: string;
  content: string | undefined;
}

/** Host furniture in the namespace; all of it is part of every baseline. */
async function furnish(ns: string): Promise<void> {
  const ip = (...args: string[]) => run(['ip', '-n', ns, ...args]);
  const inNs = (...argv: string[]) => run(['nsenter', `--net=${netnsPath(ns)}`, ...argv]);
  // No IPv6 duplicate address detection: it ends up to a second after a link comes up and only
  // then adds the link-local routes, so a dump right after a call would catch a state in motion.
  await inNs('sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0');
  await ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0-peer');
  await ip('addr', 'add', '192.168.77.2/24', 'dev', 'eth0');
  await ip('addr', 'add', 'fd77::2/64', 'dev', 'eth0', 'nodad');
  await ip('link', 'set', 'eth0-peer', 'up');
  await ip('link', 'set', 'eth0', 'up');
  await ip('route', 'add', 'default', 'via', '192.168.77.1');
  await ip('link', 'add', 'brx0', 'type', 'bridge');
  // dockerd turns forwarding on and leaves it on, as tsnet does; set before the baseline.
  await inNs('sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1');
  await inNs('iptables', '-P', 'FORWARD', 'DROP');
  await inNs('ip6tables', '-P', 'FORWARD', 'DROP');
}
