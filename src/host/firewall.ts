/**
 * The firewall seam. tsnet owns a fixed set of chains and replaces their whole content on every
 * change (declarative, like CNI's nftables transactions): the caller computes the complete
 * desired rule list from the store, and the Firewall makes the kernel match it atomically.
 * Nothing outside these chains is touched except the single jump into each of them.
 */
import { TsnetError } from '../core/errors.js';

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

/** Arguments tsnet ever passes in a rule: no spaces, quotes or shell syntax reach iptables-restore. */
const SAFE_ARG = /^[A-Za-z0-9_.:,/+![\]=-]+$/;
/** The only wildcard interface tsnet writes itself: Docker's own user-defined bridges. */
const OWN_WILDCARDS = new Set(['br-+']);

/**
 * Checks a ruleset before any of it is applied, so that a bad value is refused before anything
 * is created rather than half-way through: every argument is plain, every interface after
 * -i/-o is a literal name (a "+" would make it a wildcard), and every address after -s/-d is of
 * the rule's family (ip6tables would refuse an IPv4 subnet only after the IPv4 rules were in).
 */
export function checkRules(rules: readonly FirewallRule[]): void {
  for (const rule of rules) {
    rule.args.forEach((arg, i) => {
      const option = rule.args[i - 1];
      if (!SAFE_ARG.test(arg)) throw badRule(rule, `argument ${JSON.stringify(arg)} contains characters tsnet never writes`);
      if ((option === '-i' || option === '-o') && !OWN_WILDCARDS.has(arg) && !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/.test(arg)) {
        throw badRule(rule, `interface ${JSON.stringify(arg)} is not a literal interface name`);
      }
      if ((option === '-s' || option === '-d') && (arg.includes(':') ? 6 : 4) !== rule.family) {
        throw badRule(rule, `address ${arg} is not an IPv${rule.family} address`);
      }
    });
  }
}

function badRule(rule: FirewallRule, problem: string): TsnetError {
  return new TsnetError('TSNET_FIREWALL_RULE', `refusing the firewall rule "-A ${rule.chain} ${rule.args.join(' ')}": ${problem}`, 'check the network options and addresses given to docker network create');
}

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
    checkRules(rules);
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
