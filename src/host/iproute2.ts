import { readFile, writeFile } from 'node:fs/promises';
import { TsnetError } from '../core/errors.js';
import type { HostNet, HostOp, LinkInfo } from './hostnet.js';
import { CommandError, type RunOptions, type Runner } from './runner.js';

/** A read-only query may be killed at a call's deadline: that changes nothing. */
const QUERY: RunOptions = { cancellable: true };

export interface Iproute2Options {
  readonly runner: Runner;
  /** Named network namespace (`ip -n NAME`); the daemon's own namespace when absent. */
  readonly netns?: string;
  /** Where sysctls of the daemon's own namespace are read and written; default `/proc/sys`. */
  readonly procSys?: string;
}

interface IpLinkJson {
  ifname: string;
  ifindex: number;
  mtu: number;
  address?: string;
  flags?: string[];
  master?: string;
  link_index?: number;
  linkinfo?: { info_kind?: string };
}

/**
 * HostNet over iproute2's `ip` command. Node cannot switch namespaces per thread, so the
 * namespace is chosen by argv (`ip -n`), which lets the same code drive the host or a test netns.
 */
export class Iproute2HostNet implements HostNet {
  private readonly runner: Runner;
  private readonly nsArgs: string[];
  /** The links as {@link withLinkSnapshot} listed them, while no link has changed since. */
  private snapshot?: ReadonlyMap<string, LinkInfo>;
  /** Counts link changes, so a listing that raced with one is not taken as a snapshot. */
  private linkChanges = 0;

  constructor(private readonly options: Iproute2Options) {
    this.runner = options.runner;
    this.nsArgs = options.netns ? ['-n', options.netns] : [];
  }

  async apply(op: HostOp): Promise<boolean> {
    switch (op.op) {
      case 'ensure-bridge': return this.ensureBridge(op.name, op.mtu, op.mac);
      case 'ensure-mac': {
        const link = await this.getLink(op.dev);
        if (!link) return false;
        // Set even when it is already the address: only then does the kernel count it as set by
        // hand, and a bridge keeps it as ports come and go (else it follows its ports' MACs).
        await this.change(['link', 'set', 'dev', op.dev, 'address', op.mac]);
        return link.mac !== op.mac;
      }
      case 'ensure-addr': return this.ensureAddr(op.dev, op.cidr);
      case 'ensure-up': return this.ensureUp(op.dev);
      case 'remove-addr':
        return (await this.ip(['addr', 'del', op.cidr, 'dev', op.dev], { okCodes: [2] })).code === 0;
      case 'ensure-down': {
        const link = await this.getLink(op.dev);
        if (!link?.up) return false;
        await this.change(['link', 'set', 'dev', op.dev, 'down']);
        return true;
      }
      case 'ensure-mtu': {
        const link = await this.getLink(op.dev);
        if (!link || link.mtu === op.mtu) return false;
        await this.change(['link', 'set', 'dev', op.dev, 'mtu', String(op.mtu)]);
        return true;
      }
      case 'ensure-veth': return this.ensureVeth(op);
      case 'ensure-macvlan':
        return this.ensureSubInterface(op.name, op.parent, 'macvlan', ['mode', op.mode], op.mtu, op.mac);
      case 'ensure-ipvlan':
        return this.ensureSubInterface(op.name, op.parent, 'ipvlan', ['mode', op.mode, ...(op.flag ? [op.flag] : [])], op.mtu);
      case 'ensure-vlan':
        return this.ensureSubInterface(op.name, op.parent, 'vlan', ['id', String(op.vlanId)]);
      case 'ensure-vxlan': return this.ensureVxlan(op);
      // Forwarding entries change on every other host for each container start and stop, so
      // they go through the batch too, and are made without a look first: `replace` and
      // `append` of an entry the kernel holds change nothing (answered true all the same).
      case 'ensure-fdb':
        await this.bridgeChange(['fdb', 'replace', op.mac, 'dev', op.dev, 'dst', op.dst, 'self', 'permanent']);
        return true;
      case 'remove-fdb':
        return this.removal(this.bridgeChange(['fdb', 'del', op.mac, 'dev', op.dev, 'dst', op.dst, 'self']));
      case 'ensure-flood':
        // All-zero MAC entries form a list, one per remote VTEP: appended, never replaced.
        await this.bridgeChange(['fdb', 'append', '00:00:00:00:00:00', 'dev', op.dev, 'dst', op.dst, 'self', 'permanent']);
        return true;
      case 'remove-flood':
        return this.removal(this.bridgeChange(['fdb', 'del', '00:00:00:00:00:00', 'dev', op.dev, 'dst', op.dst, 'self']));
      case 'ensure-neigh':
        await this.change(['neigh', 'replace', op.ip, 'lladdr', op.mac, 'dev', op.dev, 'nud', 'permanent']);
        return true;
      case 'remove-neigh':
        // Batched, as an overlay peer's removal runs on every other host for each container stop.
        return this.removal(this.change(['neigh', 'del', op.ip, 'dev', op.dev]));
      case 'remove-link': return this.removeLink(op.name);
      case 'ensure-sysctl': return this.ensureSysctl(op.key, op.value);
    }
  }

  async listLinks(): Promise<LinkInfo[]> {
    const { stdout } = await this.ip(['-json', '-details', 'link', 'show'], QUERY);
    return (JSON.parse(stdout || '[]') as IpLinkJson[]).map(toLinkInfo);
  }

  /**
   * Runs `work` (start-up reconciliation) with one listing of every link answering its link
   * queries, instead of one `ip` program per query: at start-up every endpoint's links are
   * checked, about 5 ms each. Any link change made here ends the snapshot (a removal takes a
   * link's children with it, unnamed); later queries ask the kernel again.
   */
  async withLinkSnapshot<T>(work: () => Promise<T>): Promise<T> {
    const before = this.linkChanges;
    const links = await this.listLinks();
    if (this.linkChanges === before) this.snapshot = new Map(links.map((l) => [l.name, l]));
    try {
      return await work();
    } finally {
      this.snapshot = undefined;
    }
  }

  async getLink(name: string): Promise<LinkInfo | undefined> {
    if (this.snapshot) return this.snapshot.get(name);
    const { code, stdout } = await this.ip(['-json', '-details', 'link', 'show', 'dev', name], { ...QUERY, okCodes: [1] });
    if (code !== 0) return undefined;
    const [link] = JSON.parse(stdout || '[]') as IpLinkJson[];
    return link ? toLinkInfo(link) : undefined;
  }

  async readSysctl(key: string): Promise<string | undefined> {
    if (this.options.netns) {
      const { code, stdout } = await this.runner.run(['ip', 'netns', 'exec', this.options.netns, 'sysctl', '-n', key.replaceAll('/', '.')], { okCodes: [255, 1] });
      return code === 0 ? stdout.trim() : undefined;
    }
    return (await readFile(`${this.options.procSys ?? '/proc/sys'}/${key}`, 'utf8').catch(() => undefined))?.trim();
  }

  async listAddrs(dev: string): Promise<string[]> {
    const { stdout } = await this.ip(['-json', 'addr', 'show', 'dev', dev], QUERY);
    const [entry] = JSON.parse(stdout || '[]') as Array<{ addr_info?: Array<{ local: string; prefixlen: number; scope?: string }> }>;
    return (entry?.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`);
  }

  async listFdb(dev: string): Promise<Array<{ mac: string; dst: string }>> {
    const { stdout } = await this.bridge(['-json', 'fdb', 'show', 'dev', dev], QUERY);
    return (JSON.parse(stdout || '[]') as Array<{ mac: string; dst?: string; flags?: string[] }>)
      .filter((e) => e.dst !== undefined && e.flags?.includes('self'))
      .map((e) => ({ mac: e.mac, dst: e.dst as string }));
  }

  async listNeigh(dev: string): Promise<Array<{ ip: string; mac: string }>> {
    const { stdout } = await this.ip(['-json', 'neigh', 'show', 'dev', dev, 'nud', 'permanent'], QUERY);
    return (JSON.parse(stdout || '[]') as Array<{ dst: string; lladdr?: string }>).filter((e) => e.lladdr).map((e) => ({ ip: e.dst, mac: e.lladdr as string }));
  }

  async ownerOf(address: string): Promise<{ dev: string; mtu: number } | undefined> {
    const { stdout } = await this.ip(['-json', 'addr', 'show'], QUERY);
    const links = JSON.parse(stdout || '[]') as Array<{ ifname: string; mtu: number; addr_info?: Array<{ local: string }> }>;
    const owner = links.find((l) => l.addr_info?.some((a) => a.local === address));
    return owner ? { dev: owner.ifname, mtu: owner.mtu } : undefined;
  }

  async routeTo(address: string): Promise<{ source: string; dev: string; mtu: number }> {
    const { stdout } = await this.ip(['-json', 'route', 'get', address], QUERY);
    const [route] = JSON.parse(stdout || '[]') as Array<{ prefsrc?: string; dev?: string }>;
    if (!route?.prefsrc || !route.dev) throw new TsnetError('TSNET_HOST_NO_ROUTE', `no route with a source address towards ${address}`, 'pass the underlay address with --vxlan-local-ip');
    const link = await this.getLink(route.dev);
    return { source: route.prefsrc, dev: route.dev, mtu: link?.mtu ?? 1500 };
  }

  private async ensureVxlan(op: Extract<HostOp, { op: 'ensure-vxlan' }>): Promise<boolean> {
    const existing = await this.getLink(op.name);
    let created = false;
    if (existing && existing.kind !== 'vxlan') {
      throw new TsnetError('TSNET_HOST_NOT_VXLAN', `interface ${op.name} exists and is a ${existing.kind ?? 'physical device'}, not a VXLAN device`, 'remove it, then retry');
    }
    if (!existing) {
      try {
        await this.change(['link', 'add', 'name', op.name, 'mtu', String(op.mtu), 'type', 'vxlan', 'id', String(op.vni), 'local', op.local, 'dstport', String(op.port), 'nolearning', 'proxy']);
      } catch (err) {
        if (err instanceof CommandError && /File exists|already exists/.test(err.result.stderr)) {
          throw new TsnetError('TSNET_VXLAN_BUSY', `another VXLAN device already uses VNI ${op.vni} on UDP port ${op.port} on this host`, 'choose another VNI with -o tsnet.vni=N', { cause: err });
        }
        throw err;
      }
      created = true;
    }
    if (!existing || existing.master !== op.master || !existing.up || existing.mtu !== op.mtu) {
      await this.change(['link', 'set', 'dev', op.name, ...(op.master ? ['master', op.master] : existing?.master ? ['nomaster'] : []), 'mtu', String(op.mtu), 'up']);
    }
    return created;
  }

  private bridge(args: string[], options: RunOptions = {}) {
    return this.runner.run(['bridge', ...this.nsArgs, ...args], options);
  }

  private bridgeChange(args: string[]) {
    return this.bridge(args, { batchable: true });
  }

  /**
   * A batched removal: false when the entry was not there (refused in the batch, then by the
   * rerun on its own, whose exit code says so).
   */
  private async removal(run: Promise<unknown>): Promise<boolean> {
    try {
      await run;
      return true;
    } catch (err) {
      if (err instanceof CommandError && [1, 2, 255].includes(err.result.code)) return false;
      throw err;
    }
  }

  private async ensureBridge(name: string, mtu: number, mac: string | undefined): Promise<boolean> {
    const existing = await this.getLink(name);
    if (existing) {
      if (existing.kind !== 'bridge') {
        throw new TsnetError('TSNET_HOST_NOT_BRIDGE', `interface ${name} exists and is a ${existing.kind ?? 'physical device'}, not a bridge`, 'choose another com.docker.network.bridge.name');
      }
      if (existing.mtu !== mtu) await this.change(['link', 'set', 'dev', name, 'mtu', String(mtu)]);
      if (mac && existing.mac !== mac) await this.change(['link', 'set', 'dev', name, 'address', mac]);
      return false;
    }
    await this.change(['link', 'add', 'name', name, 'mtu', String(mtu), ...(mac ? ['address', mac] : []), 'type', 'bridge']);
    return true;
  }

  private async ensureAddr(dev: string, cidr: string): Promise<boolean> {
    const present = await this.listAddrs(dev);
    if (present.includes(cidr)) return false;
    await this.change(['addr', 'add', cidr, 'dev', dev]);
    return true;
  }

  private async ensureUp(dev: string): Promise<boolean> {
    const link = await this.getLink(dev);
    if (link?.up) return false;
    await this.change(['link', 'set', 'dev', dev, 'up']);
    return true;
  }

  private async ensureVeth(op: Extract<HostOp, { op: 'ensure-veth' }>): Promise<boolean> {
    const known = this.snapshot?.get(op.host);
    if (known?.kind === 'veth') return this.reattachVeth(op, known);
    // One `ip` call creates both ends, enslaves and raises the host end: this is on the path of
    // every `docker run`, so it costs one exec rather than four.
    const peerArgs = ['peer', 'name', op.peer, 'mtu', String(op.mtu), ...(op.peerMac ? ['address', op.peerMac] : [])];
    const argv = ['link', 'add', 'name', op.host, 'mtu', String(op.mtu), 'master', op.master, 'up', 'type', 'veth', ...peerArgs];
    try {
      await this.change(argv);
      return true;
    } catch (err) {
      if (!(err instanceof CommandError) || !/File exists/.test(err.result.stderr)) throw err;
      const existing = await this.getLink(op.host);
      if (existing?.kind !== 'veth') throw err;
      return this.reattachVeth(op, existing);
    }
  }

  /** An existing pair: re-attached when it lost its bridge (the bridge was deleted and recreated) or is down. */
  private async reattachVeth(op: Extract<HostOp, { op: 'ensure-veth' }>, existing: LinkInfo): Promise<boolean> {
    if (existing.master === op.master && existing.up) return false;
    await this.change(['link', 'set', 'dev', op.host, 'master', op.master, 'up']);
    return true;
  }

  private async ensureSubInterface(name: string, parent: string, kind: string, kindArgs: string[], mtu?: number, mac?: string): Promise<boolean> {
    if (this.snapshot?.get(name)?.kind === kind) return false;
    // Made first, asked about only if it exists: this is on the path of every `docker run` on a
    // macvlan or ipvlan network, and a query costs a program start (~10 ms) where the add is batched.
    const argv = ['link', 'add', 'link', parent, 'name', name, ...(mtu ? ['mtu', String(mtu)] : []), ...(mac ? ['address', mac] : []), 'type', kind, ...kindArgs];
    try {
      await this.change(argv);
      return true;
    } catch (err) {
      if (err instanceof CommandError && /Unknown device type|Operation not supported/.test(err.result.stderr)) {
        throw new TsnetError('TSNET_KERNEL_UNSUPPORTED', `this kernel cannot create ${kind} interfaces (${err.result.stderr.trim()})`, `load the ${kind === 'vlan' ? '8021q' : kind} kernel module (modprobe ${kind === 'vlan' ? '8021q' : kind}) or use a kernel built with it`, { cause: err });
      }
      if (!(err instanceof CommandError) || !/File exists/.test(err.result.stderr)) throw err;
      const existing = await this.getLink(name);
      if (existing?.kind !== kind) {
        throw new TsnetError('TSNET_HOST_LINK_EXISTS', `interface ${name} exists and is a ${existing?.kind ?? 'physical device'}, not a ${kind} link`, 'remove it (ip link del NAME), then retry', { cause: err });
      }
      return false;
    }
  }

  private async removeLink(name: string): Promise<boolean> {
    try {
      await this.change(['link', 'del', 'dev', name]);
      return true;
    } catch (err) {
      if (err instanceof CommandError && /Cannot find device/.test(err.result.stderr)) return false;
      throw err;
    }
  }

  private async ensureSysctl(key: string, value: string): Promise<boolean> {
    if (this.options.netns) {
      await this.runner.run(['ip', 'netns', 'exec', this.options.netns, 'sysctl', '-qw', `${key}=${value}`]);
      return true;
    }
    // Keys are slash-separated (net/ipv4/conf/<dev>/…) so interface names with dots stay intact.
    const path = `${this.options.procSys ?? '/proc/sys'}/${key}`;
    const current = (await readFile(path, 'utf8')).trim();
    if (current === value) return false;
    await writeFile(path, value);
    return true;
  }

  private ip(args: string[], options: RunOptions = {}) {
    return this.runner.run(['ip', ...this.nsArgs, ...args], options);
  }

  /** A command that changes the kernel and prints nothing: success or iproute2's message. */
  private change(args: string[]) {
    if (args[0] === 'link') {
      this.linkChanges++;
      this.snapshot = undefined;
    }
    return this.runner.run(['ip', ...this.nsArgs, ...args], { batchable: true });
  }
}

function toLinkInfo(link: IpLinkJson): LinkInfo {
  return {
    name: link.ifname,
    index: link.ifindex,
    kind: link.linkinfo?.info_kind,
    master: link.master,
    mtu: link.mtu,
    mac: link.address,
    up: link.flags?.includes('UP') ?? false,
    peerIndex: link.link_index,
  };
}
