/**
 * The firewall seam. tsnet owns a fixed set of chains and replaces their whole content on every
 * change (declarative, like CNI's nftables transactions): the caller computes the complete
 * desired rule list from the store, and the Firewall makes the kernel match it atomically.
 * Nothing outside these chains is touched except the single jump into each of them.
 */
export type Family = 4 | 6;
export type Table = 'filter' | 'nat';

/** Chains tsnet owns, and the table each lives in. Order here is the order they are rendered. */
export const TSNET_CHAINS = {
  'TSNET-FORWARD': 'filter',
  'TSNET-ISOLATION-1': 'filter',
  'TSNET-ISOLATION-2': 'filter',
  'TSNET-ISOLATION-3': 'filter',
  'TSNET-PORTS': 'nat',
  'TSNET-POSTROUTING': 'nat',
} as const satisfies Record<string, Table>;

export type TsnetChain = keyof typeof TSNET_CHAINS;

export interface FirewallRule {
  readonly family: Family;
  readonly chain: TsnetChain;
  /** iptables match/target arguments, e.g. ['-i', 'tsnb-…', '-j', 'ACCEPT']. */
  readonly args: readonly string[];
}

/** The jumps from built-in chains into tsnet's chains: the only rules tsnet adds elsewhere. */
export const HOOKS: ReadonlyArray<{ table: Table; chain: string; args: readonly string[]; position: 'first' | 'last' }> = [
  { table: 'filter', chain: 'FORWARD', args: ['-j', 'TSNET-FORWARD'], position: 'first' },
  { table: 'nat', chain: 'PREROUTING', args: ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'TSNET-PORTS'], position: 'last' },
  { table: 'nat', chain: 'OUTPUT', args: ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'TSNET-PORTS'], position: 'last' },
  { table: 'nat', chain: 'POSTROUTING', args: ['-j', 'TSNET-POSTROUTING'], position: 'first' },
];

export interface Firewall {
  /** Make tsnet's chains hold exactly `rules` (both families), atomically per family. */
  sync(rules: readonly FirewallRule[]): Promise<void>;
  /** Remove every tsnet chain and hook (uninstall and tests). */
  removeAll(): Promise<void>;
}

/** Records the last ruleset for unit tests, rendered as readable text. */
export class RecordingFirewall implements Firewall {
  rules: readonly FirewallRule[] = [];
  syncs = 0;

  async sync(rules: readonly FirewallRule[]): Promise<void> {
    this.rules = [...rules];
    this.syncs++;
  }

  async removeAll(): Promise<void> {
    this.rules = [];
  }

  dump(family: Family = 4): string {
    return this.rules.filter((r) => r.family === family).map((r) => `-A ${r.chain} ${r.args.join(' ')}`).join('\n');
  }
}
