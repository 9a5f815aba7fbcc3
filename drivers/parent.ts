import { z } from 'zod';
import { tsnetError } from '../src/core/errors.js';
import { checkInterfaceName, isTsnetLinkName, linkName, truncate } from '../src/core/ids.js';
import type { NetworkRecord } from '../src/core/model.js';

/** Docker's own option name (macvlan and ipvlan drivers), so a network moves over unchanged. */
export const PARENT_OPTION = 'parent';

/**
 * The parent of a network whose containers hang sub-interfaces (macvlan, ipvlan) off a host link,
 * and what that means for the kernel: shared by those types, so they differ only in their mode.
 */
export interface ParentState {
  /** The link the containers' sub-interfaces hang off. */
  readonly parent: string;
  /** `parent=IFACE.VLAN`: the 802.1Q sub-interface, made by tsnet when it does not exist. */
  readonly vlan?: { readonly base: string; readonly id: number };
  /** No parent given (or --internal): a private link of tsnet's own, containers reach only each other. */
  readonly privateParent: boolean;
  /** Learned at creation: tsnet made the parent (the VLAN sub-interface), so it removes it again. */
  readonly createdParent?: boolean;
}

/** ParentState as a stored record holds it. */
export const parentStateSchema = z.object({
  parent: z.string(),
  vlan: z.object({ base: z.string(), id: z.number().int() }).optional(),
  privateParent: z.boolean(),
  createdParent: z.boolean().optional(),
});

/**
 * The parent a network's `-o parent` (or its absence, or --internal) asks for, checked against
 * the networks that exist (pure). `kind` names the type in messages.
 */
export function planParent(network: NetworkRecord, others: readonly NetworkRecord[], kind: string): ParentState {
  const given = network.options[PARENT_OPTION];
  if (network.internal && given) {
    throw tsnetError('TSNET_PARENT_INVALID', `an --internal ${kind} network has no parent: its containers reach only each other`, `leave -o ${PARENT_OPTION}=${truncate(given)} out, or drop --internal`);
  }
  if (!given) return { parent: linkName('d', network.id), privateParent: true };
  const parent = checkInterfaceName(given, `network option "${PARENT_OPTION}"`);
  if (isTsnetLinkName(parent)) {
    throw tsnetError('TSNET_PARENT_INVALID', `network option "${PARENT_OPTION}": ${parent} is an interface tsnet made for another network or container`, 'give the host interface that leads to the network the containers should join, e.g. eth0');
  }
  const holder = others.find((o) => (o.type === 'macvlan' || o.type === 'ipvlan') && parentOf(o) === parent);
  if (holder) {
    throw tsnetError('TSNET_PARENT_BUSY', `parent interface ${parent} is already used by tsnet network ${holder.id.slice(0, 12)}`, 'use another parent (or another VLAN, e.g. parent=eth0.20), or remove that network first');
  }
  return { parent, vlan: parseVlan(parent), privateParent: false };
}

/** Reads an option whose value must be one of `allowed`; `fallback` when absent. */
export function parseChoice<T extends string>(options: Readonly<Record<string, string>>, key: string, allowed: readonly T[], fallback: T, what: string): T {
  const value = options[key];
  if (value === undefined) return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw tsnetError('TSNET_OPT_INVALID', `network option "${key}": "${truncate(value)}" is not ${what}`, `use one of ${allowed.join(', ')}, e.g. -o ${key}=${fallback}`);
}

function parentOf(network: NetworkRecord): string | undefined {
  const parent = network.driverState.parent;
  return typeof parent === 'string' ? parent : undefined;
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
    throw tsnetError('TSNET_OPT_INVALID', `network option "${PARENT_OPTION}": "${truncate(parent)}" names VLAN ${truncate(text)}, which is not a VLAN id`, `write parent=${truncate(base)}.N with N from 1 to 4094`);
  }
  return { base, id };
}
