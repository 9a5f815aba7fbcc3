import type { HostNet, HostOp, LinkInfo } from './hostnet.js';
import { renderOp } from './hostnet.js';

const ZERO_MAC = '00:00:00:00:00:00';

/**
 * A HostNet that keeps an in-memory model of links and addresses and records every call, so a
 * driver's plan can be asserted as text (like knftables' fake in CNI) without root or a kernel.
 * Shipped with the product: tests of any driver use it.
 */
export class RecordingHostNet implements HostNet {
  readonly log: string[] = [];
  /** Return true for an op to make it fail, to exercise rollback. */
  failOn?: (op: HostOp) => boolean;
  private readonly links = new Map<string, { kind?: string; master?: string; mtu: number; up: boolean; mac?: string; peer?: string; lower?: string }>();
  private readonly addrs = new Map<string, Set<string>>();
  private readonly sysctls = new Map<string, string>();
  /** Per device: "mac dst" forwarding entries (flood entries use the all-zero MAC). */
  private readonly fdb = new Map<string, Set<string>>();
  private readonly neigh = new Map<string, Map<string, string>>();
  /** What routeTo answers; tests set it to model the underlay. */
  route = { source: '192.0.2.10', dev: 'eth0', mtu: 1500 };
  private nextIndex = 10;
  private readonly indexes = new Map<string, number>();

  async apply(op: HostOp): Promise<boolean> {
    if (this.failOn?.(op)) {
      this.log.push(`fail  ${renderOp(op)}`);
      throw new Error(`injected failure on ${op.op}`);
    }
    const changed = this.simulate(op);
    this.log.push(`${changed ? 'apply' : 'noop '} ${renderOp(op)}`);
    return changed;
  }

  async listFdb(dev: string): Promise<Array<{ mac: string; dst: string }>> {
    return [...(this.fdb.get(dev) ?? [])].map((e) => {
      const [mac = '', dst = ''] = e.split(' ');
      return { mac, dst };
    });
  }

  async listNeigh(dev: string): Promise<Array<{ ip: string; mac: string }>> {
    return [...(this.neigh.get(dev) ?? new Map<string, string>()).entries()].map(([ip, mac]) => ({ ip, mac }));
  }

  async ownerOf(address: string): Promise<{ dev: string; mtu: number } | undefined> {
    return address === this.route.source ? { dev: this.route.dev, mtu: this.route.mtu } : undefined;
  }

  async routeTo(): Promise<{ source: string; dev: string; mtu: number }> {
    return this.route;
  }

  async listLinks(): Promise<LinkInfo[]> {
    return [...this.links.keys()].map((name) => this.info(name));
  }

  async getLink(name: string): Promise<LinkInfo | undefined> {
    return this.links.has(name) ? this.info(name) : undefined;
  }

  async listAddrs(dev: string): Promise<string[]> {
    return [...(this.addrs.get(dev) ?? [])];
  }

  /** Pretend a link exists already (a leftover, a parent interface, a user's bridge). */
  addExistingLink(name: string, kind?: string, master?: string, state: { up?: boolean; mtu?: number; addrs?: string[] } = {}): void {
    this.links.set(name, { kind, master, mtu: state.mtu ?? 1500, up: state.up ?? true });
    if (state.addrs) this.addrs.set(name, new Set(state.addrs));
  }

  /** Pretend Docker moved a link into a sandbox: it disappears from this namespace. */
  moveAway(name: string): void {
    this.links.delete(name);
  }

  sysctl(key: string): string | undefined {
    return this.sysctls.get(key);
  }

  async readSysctl(key: string): Promise<string | undefined> {
    return this.sysctls.get(key);
  }

  /** Pretend a sysctl has a value already (the host's own settings). */
  setSysctl(key: string, value: string): void {
    this.sysctls.set(key, value);
  }

  dump(): string {
    return this.log.join('\n');
  }

  clearLog(): void {
    this.log.length = 0;
  }

  private simulate(op: HostOp): boolean {
    switch (op.op) {
      case 'ensure-bridge': {
        const existing = this.links.get(op.name);
        if (existing) {
          if (existing.kind !== 'bridge') throw new Error(`interface ${op.name} exists and is not a bridge`);
          existing.mtu = op.mtu;
          if (op.mac) existing.mac = op.mac;
          return false;
        }
        return this.addLink(op.name, { kind: 'bridge', mtu: op.mtu, up: false, mac: op.mac });
      }
      case 'ensure-mac': {
        const link = this.links.get(op.dev);
        if (!link || link.mac === op.mac) return false;
        link.mac = op.mac;
        return true;
      }
      case 'remove-addr':
        return this.addrs.get(op.dev)?.delete(op.cidr) ?? false;
      case 'ensure-down': {
        const link = this.links.get(op.dev);
        if (!link?.up) return false;
        link.up = false;
        return true;
      }
      case 'ensure-mtu': {
        const link = this.links.get(op.dev);
        if (!link || link.mtu === op.mtu) return false;
        link.mtu = op.mtu;
        return true;
      }
      case 'ensure-addr': {
        const set = this.addrs.get(op.dev) ?? new Set<string>();
        this.addrs.set(op.dev, set);
        if (set.has(op.cidr)) return false;
        set.add(op.cidr);
        return true;
      }
      case 'ensure-up': {
        const link = this.links.get(op.dev);
        if (!link) throw new Error(`Cannot find device "${op.dev}"`);
        if (link.up) return false;
        link.up = true;
        return true;
      }
      case 'ensure-veth': {
        const existing = this.links.get(op.host);
        if (existing) {
          if (existing.master === op.master) return false;
          existing.master = op.master;
          return true;
        }
        this.addLink(op.host, { kind: 'veth', master: op.master, mtu: op.mtu, up: true, peer: op.peer });
        this.addLink(op.peer, { kind: 'veth', mtu: op.mtu, up: false, mac: op.peerMac, peer: op.host });
        return true;
      }
      case 'ensure-macvlan':
        return this.addLink(op.name, { kind: 'macvlan', mtu: op.mtu ?? 1500, up: false, mac: op.mac, lower: op.parent });
      case 'ensure-ipvlan':
        return this.addLink(op.name, { kind: 'ipvlan', mtu: op.mtu ?? 1500, up: false, lower: op.parent });
      case 'ensure-vlan':
        return this.addLink(op.name, { kind: 'vlan', mtu: 1500, up: false, lower: op.parent });
      case 'ensure-vxlan': {
        const existing = this.links.get(op.name);
        if (existing) {
          const changed = existing.master !== op.master || existing.mtu !== op.mtu;
          Object.assign(existing, { master: op.master, mtu: op.mtu, up: true });
          return changed;
        }
        return this.addLink(op.name, { kind: 'vxlan', master: op.master, mtu: op.mtu, up: true });
      }
      case 'ensure-fdb':
        return this.setAdd(this.fdb, op.dev, `${op.mac} ${op.dst}`);
      case 'remove-fdb':
        return this.fdb.get(op.dev)?.delete(`${op.mac} ${op.dst}`) ?? false;
      case 'ensure-flood':
        return this.setAdd(this.fdb, op.dev, `${ZERO_MAC} ${op.dst}`);
      case 'remove-flood':
        return this.fdb.get(op.dev)?.delete(`${ZERO_MAC} ${op.dst}`) ?? false;
      case 'ensure-neigh': {
        const table = this.neigh.get(op.dev) ?? new Map<string, string>();
        this.neigh.set(op.dev, table);
        const changed = table.get(op.ip) !== op.mac;
        table.set(op.ip, op.mac);
        return changed;
      }
      case 'remove-neigh':
        return this.neigh.get(op.dev)?.delete(op.ip) ?? false;
      case 'remove-link':
        return this.deleteLink(op.name);
      case 'ensure-sysctl': {
        const changed = this.sysctls.get(op.key) !== op.value;
        this.sysctls.set(op.key, op.value);
        return changed;
      }
    }
  }

  private setAdd(map: Map<string, Set<string>>, dev: string, entry: string): boolean {
    const set = map.get(dev) ?? new Set<string>();
    map.set(dev, set);
    if (set.has(entry)) return false;
    set.add(entry);
    return true;
  }

  private addLink(name: string, link: { kind?: string; master?: string; mtu: number; up: boolean; mac?: string; peer?: string; lower?: string }): boolean {
    if (this.links.has(name)) return false;
    this.links.set(name, link);
    this.indexes.set(name, this.nextIndex++);
    return true;
  }

  private deleteLink(name: string): boolean {
    // Like the kernel: deleting one end of a veth pair deletes the other, and deleting a link
    // deletes the macvlan, ipvlan and vlan links on it (in the host's namespace).
    const peer = this.links.get(name)?.peer;
    if (peer) this.links.delete(peer);
    for (const [child, link] of this.links) if (link.lower === name) this.deleteLink(child);
    this.addrs.delete(name);
    this.fdb.delete(name);
    this.neigh.delete(name);
    return this.links.delete(name);
  }

  private info(name: string): LinkInfo {
    const link = this.links.get(name);
    if (!link) throw new Error(`no link ${name}`);
    return { name, index: this.indexes.get(name) ?? 0, kind: link.kind, master: link.master, mtu: link.mtu, mac: link.mac, up: link.up };
  }
}
