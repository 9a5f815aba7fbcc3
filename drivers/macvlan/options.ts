import { conflict, invalid } from '../../src/core/errors.js';
import { checkInterfaceName, isTsnetLinkName, linkName, truncate } from '../../src/core/ids.js';
import type { NetworkRecord } from '../../src/core/model.js';
import { rejectUnknownOptions } from '../../src/core/options.js';

/** Docker's own macvlan option names, so a network moves from `-d macvlan` unchanged. */
export const MACVLAN_OPTIONS = { parent: 'parent', mode: 'macvlan_mode' } as const;
export const MACVLAN_MODES = ['bridge', 'private', 'vepa', 'passthru'] as const;
export type MacvlanMode = (typeof MACVLAN_MODES)[number];

/** The macvlan driver's state for one network. */
export interface MacvlanState {
  /** The link the containers' macvlan links hang off. */
  readonly parent: string;
  readonly mode: MacvlanMode;
  /** `parent=IFACE.VLAN`: the 802.1Q sub-interface, made by tsnet when it does not exist. */
  readonly vlan?: { readonly base: string; readonly id: number };
  /** No parent given (or --internal): a private link of tsnet's own, containers reach only each other. */
  readonly privateParent: boolean;
  /** Learned at creation: tsnet made the parent (the VLAN sub-interface), so it removes it again. */
  readonly createdParent?: boolean;
}

/** Parses `-o` options and checks them against the networks that exist (pure). */
export function planMacvlan(network: NetworkRecord, others: readonly NetworkRecord[]): MacvlanState {
  const options = network.options;
  rejectUnknownOptions(options, Object.values(MACVLAN_OPTIONS), 'macvlan');
  const mode = parseMode(options[MACVLAN_OPTIONS.mode]);
  const given = options[MACVLAN_OPTIONS.parent];
  if (network.internal && given) {
    throw invalid('TSNET_MACVLAN_PARENT', `an --internal macvlan network has no parent: its containers reach only each other`, `leave -o ${MACVLAN_OPTIONS.parent}=${truncate(given)} out, or drop --internal`);
  }
  if (!given) return { parent: linkName('d', network.id), mode, privateParent: true };
  const parent = checkInterfaceName(given, `network option "${MACVLAN_OPTIONS.parent}"`);
  if (isTsnetLinkName(parent)) {
    throw invalid('TSNET_MACVLAN_PARENT', `network option "${MACVLAN_OPTIONS.parent}": ${parent} is an interface tsnet made for another network or container`, 'give the host interface that leads to the network the containers should join, e.g. eth0');
  }
  const holder = others.find((o) => (o.type === 'macvlan' || o.type === 'ipvlan') && parentOf(o) === parent);
  if (holder) {
    throw conflict('TSNET_MACVLAN_PARENT_BUSY', `parent interface ${parent} is already used by tsnet network ${holder.id.slice(0, 12)}`, 'use another parent (or another VLAN, e.g. parent=eth0.20), or remove that network first');
  }
  return { parent, mode, vlan: parseVlan(parent), privateParent: false };
}

export function macvlanStateOf(driverState: Readonly<Record<string, unknown>>): MacvlanState {
  return driverState as unknown as MacvlanState;
}

function parentOf(network: NetworkRecord): string | undefined {
  const parent = network.driverState.parent;
  return typeof parent === 'string' ? parent : undefined;
}

function parseMode(value: string | undefined): MacvlanMode {
  if (value === undefined) return 'bridge';
  if ((MACVLAN_MODES as readonly string[]).includes(value)) return value as MacvlanMode;
  throw invalid('TSNET_OPT_INVALID', `network option "${MACVLAN_OPTIONS.mode}": "${truncate(value)}" is not a macvlan mode`, `use one of ${MACVLAN_MODES.join(', ')}, e.g. -o ${MACVLAN_OPTIONS.mode}=bridge`);
}

/**
 * `eth0.10` names VLAN 10 on eth0 (Docker's convention). A numeric suffix outside 1..4094 is
 * refused here; a name with another suffix is an ordinary interface, which must then exist.
 */
function parseVlan(parent: string): { base: string; id: number } | undefined {
  const match = /^(.+)\.(\d+)$/.exec(parent);
  if (!match) return undefined;
  const [, base = '', text = ''] = match;
  const id = Number(text);
  if (!(id >= 1 && id <= 4094) || text.length > 4) {
    throw invalid('TSNET_OPT_INVALID', `network option "${MACVLAN_OPTIONS.parent}": "${truncate(parent)}" names VLAN ${truncate(text)}, which is not a VLAN id`, `write parent=${truncate(base)}.N with N from 1 to 4094`);
  }
  return { base, id };
}
