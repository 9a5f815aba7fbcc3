/**
 * The host-networking seam. Drivers describe kernel changes as `HostOp` values (a plan that unit
 * tests can read), and a `HostNet` performs them. Every op is idempotent: applying an op whose
 * effect is already in place succeeds and reports that nothing changed, so that a rollback only
 * undoes what this call really did.
 */
export type HostOp =
  /** `mac`: the bridge's fixed MAC; absent for a bridge tsnet adopts (its MAC is the user's). */
  | { readonly op: 'ensure-bridge'; readonly name: string; readonly mtu: number; readonly mac?: string }
  /** Pin a device's MAC (a bridge's otherwise follows its ports). */
  | { readonly op: 'ensure-mac'; readonly dev: string; readonly mac: string }
  | { readonly op: 'ensure-addr'; readonly dev: string; readonly cidr: string }
  | { readonly op: 'ensure-up'; readonly dev: string }
  /** The inverses tsnet needs for a device it adopted rather than created. */
  | { readonly op: 'remove-addr'; readonly dev: string; readonly cidr: string }
  | { readonly op: 'ensure-down'; readonly dev: string }
  | { readonly op: 'ensure-mtu'; readonly dev: string; readonly mtu: number }
  | {
      readonly op: 'ensure-veth';
      /** Host end, enslaved to `master`. */
      readonly host: string;
      /** Container end, handed to Docker in Join and moved into the sandbox. */
      readonly peer: string;
      readonly master: string;
      readonly mtu: number;
      readonly peerMac?: string;
    }
  | {
      readonly op: 'ensure-macvlan';
      readonly name: string;
      readonly parent: string;
      readonly mode: 'bridge' | 'private' | 'vepa' | 'passthru';
      readonly mtu?: number;
      readonly mac?: string;
    }
  | {
      readonly op: 'ensure-ipvlan';
      readonly name: string;
      readonly parent: string;
      readonly mode: 'l2' | 'l3' | 'l3s';
      /** Absent: the kernel's default, bridge. */
      readonly flag?: 'bridge' | 'private' | 'vepa';
      readonly mtu?: number;
    }
  | { readonly op: 'ensure-vlan'; readonly name: string; readonly parent: string; readonly vlanId: number }
  | {
      /** A VXLAN device without learning: tsnet programs its forwarding table from etcd. */
      readonly op: 'ensure-vxlan';
      readonly name: string;
      readonly vni: number;
      /** Underlay address the tunnel's packets come from. */
      readonly local: string;
      readonly port: number;
      readonly mtu: number;
      /** The bridge it is a port of; absent: none (endpoints are macvlan links on the device itself). */
      readonly master?: string;
    }
  /** Forward frames for `mac` through the tunnel to the VTEP at `dst`. */
  | { readonly op: 'ensure-fdb'; readonly dev: string; readonly mac: string; readonly dst: string }
  | { readonly op: 'remove-fdb'; readonly dev: string; readonly mac: string; readonly dst: string }
  /** Send broadcast and unknown traffic also to the VTEP at `dst` (one entry per remote VTEP). */
  | { readonly op: 'ensure-flood'; readonly dev: string; readonly dst: string }
  | { readonly op: 'remove-flood'; readonly dev: string; readonly dst: string }
  /** A permanent neighbour entry, answered locally by the VXLAN device (ARP suppression). */
  | { readonly op: 'ensure-neigh'; readonly dev: string; readonly ip: string; readonly mac: string }
  | { readonly op: 'remove-neigh'; readonly dev: string; readonly ip: string }
  | { readonly op: 'remove-link'; readonly name: string }
  /** `key` is slash-separated, e.g. net/ipv4/conf/tsnb-0123456789/route_localnet. */
  | { readonly op: 'ensure-sysctl'; readonly key: string; readonly value: string };

export type HostOpName = HostOp['op'];

/** What `ip -json -details link show` tells us about one link. */
export interface LinkInfo {
  readonly name: string;
  readonly index: number;
  /** bridge, veth, vxlan, macvlan…; undefined for physical devices. */
  readonly kind?: string;
  readonly master?: string;
  readonly mtu: number;
  readonly mac?: string;
  readonly up: boolean;
  /** For a veth, the peer's interface index (in whatever namespace it now lives). */
  readonly peerIndex?: number;
}

export interface HostNet {
  /**
   * Make the op's effect true. Resolves true when something changed, false when it already held;
   * fdb and flood entries answer true without looking (the kernel's replace/append is idempotent).
   */
  apply(op: HostOp): Promise<boolean>;
  /** Every link in the namespace (used by reconciliation and to validate parents). */
  listLinks(): Promise<LinkInfo[]>;
  /** One link, or undefined when it does not exist. */
  getLink(name: string): Promise<LinkInfo | undefined>;
  /** A sysctl's current value (`key` slash-separated as in ensure-sysctl); undefined when absent. */
  readSysctl(key: string): Promise<string | undefined>;
  /** Addresses (CIDR strings) on a device. */
  listAddrs(dev: string): Promise<string[]>;
  /** Forwarding entries tsnet programs on a VXLAN device (mac 00:00:00:00:00:00 = flood). */
  listFdb(dev: string): Promise<Array<{ mac: string; dst: string }>>;
  /** Permanent neighbour entries on a device. */
  listNeigh(dev: string): Promise<Array<{ ip: string; mac: string }>>;
  /** The device that holds `address`, and its MTU. */
  ownerOf(address: string): Promise<{ dev: string; mtu: number } | undefined>;
  /** The underlay route towards `address`: source address and device MTU. */
  routeTo(address: string): Promise<{ source: string; dev: string; mtu: number }>;
}

/**
 * The ops that take back what `op` did when `apply` reported a change: the one place the undo
 * rules live, so every HostNet (the kernel's, the recording fake) rolls back alike. A removal
 * cannot be taken back, and the sysctls, MTUs and MACs tsnet sets are harmless to leave, so they
 * have none. A veth pair goes with either end.
 */
export function inverseOf(op: HostOp): HostOp[] {
  switch (op.op) {
    case 'ensure-bridge':
    case 'ensure-macvlan':
    case 'ensure-ipvlan':
    case 'ensure-vlan':
    case 'ensure-vxlan':
      return [{ op: 'remove-link', name: op.name }];
    case 'ensure-veth': return [{ op: 'remove-link', name: op.host }];
    case 'ensure-addr': return [{ op: 'remove-addr', dev: op.dev, cidr: op.cidr }];
    case 'ensure-up': return [{ op: 'ensure-down', dev: op.dev }];
    case 'ensure-fdb': return [{ op: 'remove-fdb', dev: op.dev, mac: op.mac, dst: op.dst }];
    case 'ensure-flood': return [{ op: 'remove-flood', dev: op.dev, dst: op.dst }];
    case 'ensure-neigh': return [{ op: 'remove-neigh', dev: op.dev, ip: op.ip }];
    case 'ensure-mac':
    case 'ensure-mtu':
    case 'ensure-sysctl':
    case 'ensure-down':
    case 'remove-addr':
    case 'remove-fdb':
    case 'remove-flood':
    case 'remove-neigh':
    case 'remove-link':
      return [];
  }
}

/** Human-readable one-line rendering of an op, used in logs and in golden test dumps. */
export function renderOp(op: HostOp): string {
  const { op: name, ...fields } = op;
  const parts = Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${String(value)}`);
  return [name, ...parts].join(' ');
}

/**
 * What an op does, in words a user reads in Docker's error output: "add address 10.0.0.1/24
 * to tsnb-0123456789" rather than an `ip` command line.
 */
export function describeOp(op: HostOp): string {
  switch (op.op) {
    case 'ensure-bridge': return `create bridge ${op.name}`;
    case 'ensure-addr': return `add address ${op.cidr} to ${op.dev}`;
    case 'remove-addr': return `remove address ${op.cidr} from ${op.dev}`;
    case 'ensure-up': return `bring ${op.dev} up`;
    case 'ensure-down': return `bring ${op.dev} down`;
    case 'ensure-mtu': return `set the MTU of ${op.dev} to ${op.mtu}`;
    case 'ensure-mac': return `set the MAC of ${op.dev} to ${op.mac}`;
    case 'ensure-veth': return `create the veth pair ${op.host}/${op.peer} on ${op.master}${op.peerMac ? ` with MAC ${op.peerMac}` : ''}`;
    case 'ensure-macvlan': return `create macvlan ${op.name} on ${op.parent}`;
    case 'ensure-ipvlan': return `create ipvlan ${op.name} on ${op.parent}`;
    case 'ensure-vlan': return `create VLAN ${op.vlanId} interface ${op.name} on ${op.parent}`;
    case 'ensure-vxlan': return `create VXLAN device ${op.name} (VNI ${op.vni}, UDP ${op.port}) from ${op.local}`;
    case 'ensure-fdb': return `forward ${op.mac} through ${op.dev} to ${op.dst}`;
    case 'remove-fdb': return `stop forwarding ${op.mac} through ${op.dev} to ${op.dst}`;
    case 'ensure-flood': return `flood through ${op.dev} to ${op.dst}`;
    case 'remove-flood': return `stop flooding through ${op.dev} to ${op.dst}`;
    case 'ensure-neigh': return `add neighbour ${op.ip} (${op.mac}) on ${op.dev}`;
    case 'remove-neigh': return `remove neighbour ${op.ip} from ${op.dev}`;
    case 'remove-link': return `remove ${op.name}`;
    case 'ensure-sysctl': return `set ${op.key.replaceAll('/', '.')} to ${op.value}`;
  }
}
