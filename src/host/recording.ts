import type { HostNet, HostOp, LinkInfo } from './hostnet.js';
import { renderOp } from './hostnet.js';

/**
 * A HostNet that keeps an in-memory model of links and addresses and records every call, so a
 * driver's plan can be asserted as text (like knftables' fake in CNI) without root or a kernel.
 * Shipped with the product: tests of any driver use it.
 */
export class RecordingHostNet implements HostNet {
  readonly log: string[] = [];
  /** Return true for an op to make it fail, to exercise rollback. */
  failOn?: (op: HostOp) => boolean;
  private readonly links = new Map<string, { kind?: string; master?: string; mtu: number; up: boolean; mac?: string; peer?: string }>();
  private readonly addrs = new Map<string, Set<string>>();
  private readonly sysctls = new Map<string, string>();
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

  async undo(op: HostOp): Promise<void> {
    this.log.push(`undo  ${renderOp(op)}`);
    switch (op.op) {
      case 'ensure-bridge':
      case 'ensure-macvlan':
      case 'ensure-ipvlan':
      case 'ensure-vlan':
        this.deleteLink(op.name);
        return;
      case 'ensure-veth':
        this.deleteLink(op.host);
        this.deleteLink(op.peer);
        return;
      case 'ensure-addr':
        this.addrs.get(op.dev)?.delete(op.cidr);
        return;
      case 'ensure-up': {
        const link = this.links.get(op.dev);
        if (link) link.up = false;
        return;
      }
      default:
        return;
    }
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
  addExistingLink(name: string, kind?: string, master?: string): void {
    this.links.set(name, { kind, master, mtu: 1500, up: true });
  }

  /** Pretend Docker moved a link into a sandbox: it disappears from this namespace. */
  moveAway(name: string): void {
    this.links.delete(name);
  }

  sysctl(key: string): string | undefined {
    return this.sysctls.get(key);
  }

  dump(): string {
    return this.log.join('\n');
  }

  clearLog(): void {
    this.log.length = 0;
  }

  private simulate(op: HostOp): boolean {
    switch (op.op) {
      case 'ensure-bridge':
        return this.addLink(op.name, { kind: 'bridge', mtu: op.mtu, up: false });
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
        return this.addLink(op.name, { kind: 'macvlan', mtu: op.mtu ?? 1500, up: false, mac: op.mac });
      case 'ensure-ipvlan':
        return this.addLink(op.name, { kind: 'ipvlan', mtu: op.mtu ?? 1500, up: false });
      case 'ensure-vlan':
        return this.addLink(op.name, { kind: 'vlan', mtu: 1500, up: false });
      case 'remove-link':
        return this.deleteLink(op.name);
      case 'ensure-sysctl': {
        const changed = this.sysctls.get(op.key) !== op.value;
        this.sysctls.set(op.key, op.value);
        return changed;
      }
    }
  }

  private addLink(name: string, link: { kind?: string; master?: string; mtu: number; up: boolean; mac?: string; peer?: string }): boolean {
    if (this.links.has(name)) return false;
    this.links.set(name, link);
    this.indexes.set(name, this.nextIndex++);
    return true;
  }

  private deleteLink(name: string): boolean {
    // Like the kernel: deleting one end of a veth pair deletes the other.
    const peer = this.links.get(name)?.peer;
    if (peer) this.links.delete(peer);
    this.addrs.delete(name);
    return this.links.delete(name);
  }

  private info(name: string): LinkInfo {
    const link = this.links.get(name);
    if (!link) throw new Error(`no link ${name}`);
    return { name, index: this.indexes.get(name) ?? 0, kind: link.kind, master: link.master, mtu: link.mtu, mac: link.mac, up: link.up };
  }
}
