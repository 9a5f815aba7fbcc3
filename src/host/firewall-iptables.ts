import type { Logger } from 'pino';
import { forwardStep } from '../core/deadline.js';
import { errorText, TsnetError } from '../core/errors.js';
import { HOOKS, TSNET_CHAINS, checkRules, type Family, type Firewall, type FirewallRule, type Table, type TsnetChain } from './firewall.js';
import { CommandError, type Runner } from './runner.js';

export interface IptablesFirewallOptions {
  readonly runner: Runner;
  readonly log: Logger;
  /** Prefix for every command, e.g. ['ip', 'netns', 'exec', 'NS'] in integration tests. */
  readonly wrap?: readonly string[];
}

/**
 * Firewall over iptables-restore (the nf_tables backend on Debian 12, shared with dockerd's own
 * rules). Each sync is one `iptables-restore --noflush` per family: declaring a chain flushes
 * it, so the chain contents are swapped atomically and rules never pile up or duplicate.
 *
 * A family whose rules are what this process last applied is left alone: each program run costs
 * 10-20 ms and a sync sits on the path of every `docker run -p` and `docker stop`. A family that
 * changes is read first (one iptables-save), so its hooks are repaired and a failure can be put
 * back; start-up reconciliation syncs both families in full.
 */
export class IptablesFirewall implements Firewall {
  private queue: Promise<void> = Promise.resolve();
  /** Per family, the rules this process last applied successfully (rendered); unknown at start. */
  private readonly applied = new Map<Family, string>();

  constructor(private readonly options: IptablesFirewallOptions) {}

  sync(rules: readonly FirewallRule[]): Promise<void> {
    // Serialised: two overlapping restores could otherwise apply in the wrong order.
    const next = this.queue.then(() => this.syncNow(rules));
    this.queue = next.catch(() => undefined);
    return next;
  }

  async removeAll(): Promise<void> {
    this.applied.clear();
    for (const family of [4, 6] as const) {
      const saved = await this.save(family).catch(() => undefined);
      if (saved === undefined) continue;
      const input = renderRemoval(saved);
      if (input) await this.restore(family, input);
    }
  }

  /**
   * All or nothing across both families and both tables: every input is rendered (and so
   * checked) before anything is applied, and if a later restore fails, each family already
   * changed is put back exactly as iptables-save showed it before.
   */
  private async syncNow(rules: readonly FirewallRule[]): Promise<void> {
    checkRules(rules);
    const plans: Array<{ family: Family; saved: string; input: string; rendered: string }> = [];
    for (const family of [4, 6] as const) {
      const familyRules = rules.filter((r) => r.family === family);
      const rendered = familyRules.map((r) => `${r.chain} ${r.args.join(' ')}`).join('\n');
      if (this.applied.get(family) === rendered) continue;
      let saved: string;
      try {
        saved = await forwardStep(() => this.save(family));
      } catch (err) {
        if (isDeadline(err)) throw err;
        if (family === 6 && familyRules.length === 0) {
          this.options.log.debug({ err }, 'ip6tables unavailable and not needed');
          continue;
        }
        throw new TsnetError('TSNET_FIREWALL', `cannot read the IPv${family} firewall: ${errorText(err)}`, 'install iptables (apt-get install iptables)', { cause: err });
      }
      // No tsnet network needs this family: leave no chain or hook of ours behind.
      const input = familyRules.length === 0 ? renderRemoval(saved) : renderRestore(familyRules, saved);
      if (input) plans.push({ family, saved, input, rendered });
      else this.applied.set(family, rendered);
    }
    const applied: Array<{ family: Family; saved: string }> = [];
    for (const plan of plans) {
      try {
        await forwardStep(() => this.restore(plan.family, plan.input));
        applied.push(plan);
        this.applied.set(plan.family, plan.rendered);
      } catch (err) {
        // What the kernel holds is uncertain until the next sync has read it again.
        this.applied.clear();
        for (const done of [...applied.reverse(), plan]) await this.putBack(done.family, done.saved);
        throw err;
      }
    }
  }

  /** Makes tsnet's chains and hooks of one family what `saved` shows; logs (never throws) on failure. */
  private async putBack(family: Family, saved: string): Promise<void> {
    try {
      const current = await this.save(family);
      const input = renderPutBack(saved, current);
      if (input) await this.restore(family, input);
    } catch (err) {
      this.options.log.error({ err, family }, 'could not restore the previous firewall rules after a failed change');
    }
  }

  /** Every table of one family in one run (only filter and nat are read from it). */
  private async save(family: Family): Promise<string> {
    const program = family === 4 ? 'iptables-save' : 'ip6tables-save';
    return (await this.options.runner.run([...(this.options.wrap ?? []), program], { cancellable: true })).stdout;
  }

  private async restore(family: Family, input: string): Promise<void> {
    const program = family === 4 ? 'iptables-restore' : 'ip6tables-restore';
    try {
      // All or nothing (one COMMIT per table): killed while it waits for the xtables lock, it changed nothing.
      await this.options.runner.run([...(this.options.wrap ?? []), program, '-w', '10', '--noflush'], { input, cancellable: true });
    } catch (err) {
      if (isDeadline(err)) throw err;
      const stderr = err instanceof CommandError ? err.result.stderr.trim() : errorText(err);
      // iptables-restore names the input line: "Error occurred at line: N" or "line N failed".
      const line = /line:? (\d+)/.exec(stderr)?.[1];
      const rule = line ? input.split('\n')[Number(line) - 1] : undefined;
      const reason = stderr.split('\n')[0]?.replace(/^\S+-restore v[\d.]+ \(\w+\): /, '') ?? '';
      const what = rule ? `the rule "${rule}" was refused (${reason})` : `${program} failed: ${stderr}`;
      throw new TsnetError('TSNET_FIREWALL', `could not program the IPv${family} firewall, nothing was changed: ${what}`, `check that the ${family === 4 ? 'iptables' : 'ip6tables'} kernel modules this rule needs are available, and see the tsnet log`, { cause: err });
    }
  }
}

/**
 * The iptables-restore input that makes tsnet's chains equal to `rules`, adding any missing
 * hook. `saved` is iptables-save output for the filter and nat tables (to see existing hooks).
 */
export function renderRestore(rules: readonly FirewallRule[], saved: string): string {
  const lines: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    lines.push(`*${table}`);
    for (const [chain, chainTable] of Object.entries(TSNET_CHAINS)) {
      if (chainTable === table) lines.push(`:${chain} - [0:0]`);
    }
    for (const rule of rules) {
      if (TSNET_CHAINS[rule.chain] === table) lines.push(`-A ${rule.chain} ${rule.args.join(' ')}`);
    }
    lines.push(...renderHooks(table, saved));
    lines.push('COMMIT');
  }
  return `${lines.join('\n')}\n`;
}

function renderHooks(table: Table, saved: string): string[] {
  const present = tableSection(saved, table);
  const lines: string[] = [];
  for (const hook of HOOKS.filter((h) => h.table === table)) {
    const rule = `-A ${hook.chain} ${hook.args.join(' ')}`;
    const count = present.filter((line) => line === rule).length;
    // Extra copies (e.g. from a crashed older version) are removed so exactly one remains.
    for (let i = 1; i < count; i++) lines.push(`-D ${hook.chain} ${hook.args.join(' ')}`);
    if (count === 0) lines.push(hook.position === 'first' ? `-I ${hook.chain} 1 ${hook.args.join(' ')}` : rule);
  }
  return lines;
}

/** Input that deletes every hook and tsnet chain found in `saved`. */
export function renderRemoval(saved: string): string {
  const lines: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    const present = tableSection(saved, table);
    const chains = (Object.keys(TSNET_CHAINS) as TsnetChain[])
      .filter((chain) => TSNET_CHAINS[chain] === table && present.some((l) => l.startsWith(`:${chain} `)));
    const hooks = present.filter((line) => line.startsWith('-A ') && / -j TSNET-/.test(line) && !line.startsWith('-A TSNET-'));
    if (chains.length === 0 && hooks.length === 0) continue;
    lines.push(`*${table}`);
    for (const chain of chains) lines.push(`:${chain} - [0:0]`);
    for (const hook of hooks) lines.push(hook.replace(/^-A /, '-D '));
    for (const chain of chains) lines.push(`-X ${chain}`);
    lines.push('COMMIT');
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** A hook that must come first in its chain (before Docker's rules) goes back at the top. */
function reinsertHook(line: string): string {
  const first = HOOKS.find((h) => h.position === 'first' && line === `-A ${h.chain} ${h.args.join(' ')}`);
  return first ? `-I ${first.chain} 1 ${first.args.join(' ')}` : line;
}

function tableSection(saved: string, table: Table): string[] {
  const lines = saved.split('\n');
  const start = lines.indexOf(`*${table}`);
  if (start < 0) return [];
  const end = lines.indexOf('COMMIT', start);
  return lines.slice(start + 1, end < 0 ? undefined : end).map((l) => l.trim());
}

/**
 * Input that returns tsnet's chains and hooks from what `current` shows to what `saved` showed:
 * chains that existed are refilled with their saved rules, chains that did not are deleted, and
 * hooks are added or removed to match. iptables-save output is valid iptables-restore input.
 */
export function renderPutBack(saved: string, current: string): string {
  const lines: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    const before = tableSection(saved, table);
    const now = tableSection(current, table);
    const ours = (Object.keys(TSNET_CHAINS) as TsnetChain[]).filter((c) => TSNET_CHAINS[c] === table);
    const existedBefore = ours.filter((c) => before.some((l) => l.startsWith(`:${c} `)));
    const existsNow = ours.filter((c) => now.some((l) => l.startsWith(`:${c} `)));
    const isHook = (l: string) => l.startsWith('-A ') && / -j TSNET-/.test(l) && !l.startsWith('-A TSNET-');
    const hooksBefore = before.filter(isHook);
    const hooksNow = now.filter(isHook);
    if (existedBefore.length === 0 && existsNow.length === 0 && hooksBefore.length === 0 && hooksNow.length === 0) continue;
    lines.push(`*${table}`);
    for (const chain of new Set([...existedBefore, ...existsNow])) lines.push(`:${chain} - [0:0]`);
    for (const hook of hooksNow.filter((h) => !hooksBefore.includes(h))) lines.push(hook.replace(/^-A /, '-D '));
    lines.push(...before.filter((l) => ours.some((c) => l.startsWith(`-A ${c} `))));
    for (const hook of hooksBefore.filter((h) => !hooksNow.includes(h))) lines.push(reinsertHook(hook));
    for (const chain of existsNow.filter((c) => !existedBefore.includes(c))) lines.push(`-X ${chain}`);
    lines.push('COMMIT');
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

function isDeadline(err: unknown): boolean {
  return err instanceof TsnetError && err.code === 'TSNET_DEADLINE';
}
