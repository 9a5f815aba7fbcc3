import { createHash } from 'node:crypto';
import { tsnetError } from './errors.js';

/**
 * Kernel object names. Every link tsnet creates is `tsn` + a kind letter + `-` + 10 hex digits
 * of sha256(owner id): exactly 15 bytes (IFNAMSIZ - 1), deterministic, and recognisable, so
 * reconciliation can decide ownership from the name alone and never touch anything else.
 */
export const LINK_PREFIX = 'tsn';

export type LinkKind =
  | 'b' // bridge of a network
  | 'v' // host end of an endpoint's veth pair
  | 'p' // container end of the veth pair, until Docker moves it into the sandbox
  | 'x' // vxlan device
  | 'm' // macvlan sub-interface
  | 'i' // ipvlan sub-interface
  | 'd' // private parent link of a macvlan or ipvlan network that has no parent
  | 'g'; // an overlay's gateway on this host (a macvlan link of its VXLAN device)

export function linkName(kind: LinkKind, ownerId: string): string {
  const digest = createHash('sha256').update(ownerId).digest('hex').slice(0, 10);
  return `${LINK_PREFIX}${kind}-${digest}`;
}

/**
 * A fixed MAC for a bridge tsnet creates. Without one, Linux gives a bridge the lowest MAC of
 * its ports and, once the last port leaves, 00:00:00:00:00:00: the gateway's MAC would change
 * under the containers' ARP caches. Locally administered, unicast, 0x62 ('b') second, so it never
 * equals an endpoint MAC (02:74:…, see cnm/mac.ts).
 */
export function bridgeMac(ownerId: string): string {
  const digest = createHash('sha256').update(`bridge:${ownerId}`).digest();
  return [0x02, 0x62, ...digest.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

const OWNED_LINK = /^tsn[bvpxmidg]-[0-9a-f]{10}$/;

/** True for names tsnet generated (user-chosen bridge names are tracked in the store instead). */
export function isTsnetLinkName(name: string): boolean {
  return OWNED_LINK.test(name);
}

export function linkKindOf(name: string): LinkKind | undefined {
  return isTsnetLinkName(name) ? (name[3] as LinkKind) : undefined;
}

/** Linux accepts 1..15 bytes, not "." or "..", and no '/', ':' or whitespace. */
export function checkInterfaceName(name: string, what: string): string {
  const bytes = Buffer.byteLength(name);
  if (bytes === 0 || bytes > 15) {
    throw tsnetError('TSNET_IFNAME_INVALID', `${what}: "${truncate(name)}" is ${bytes} bytes long`, 'Linux interface names are 1 to 15 bytes');
  }
  if (name === '.' || name === '..' || /[\s/:%]/.test(name) || !/^[\x21-\x7e]+$/.test(name)) {
    throw tsnetError('TSNET_IFNAME_INVALID', `${what}: "${truncate(name)}" is not a valid Linux interface name`, 'use letters, digits, "-", "_" or "."');
  }
  return name;
}

/**
 * An interface name that also reaches tsnet's firewall rules (`iptables -i NAME`). There, `+`
 * is a wildcard ("e+" matches eth0, "+" matches every interface), and a leading `-` or `!` is
 * read as an option or a negation, so such a name would silently change what the rule matches.
 * Only letters, digits, "_", "-" and "." are allowed, and the name starts with a letter, digit
 * or "_".
 */
export function checkFirewallInterfaceName(name: string, what: string): string {
  checkInterfaceName(name, what);
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name)) {
    const why = name.includes('+') ? '"+" is a wildcard in firewall rules'
      : /^[-!]/.test(name) ? `a leading "${name[0]}" would be read as an option or a negation by iptables`
      : 'only letters, digits, "_", "-" and "." are allowed';
    throw tsnetError('TSNET_IFNAME_INVALID', `${what}: "${truncate(name)}" cannot be used as an interface name in tsnet's firewall rules (${why})`, 'use letters, digits, "_", "-" or "." and start with a letter or digit, e.g. br-app');
  }
  return name;
}

export function truncate(text: string, max = 64): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** Short form of a Docker id for logs and firewall comments, as `docker network ls` shows it. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}

/**
 * Whether Docker's name for a driver is this plugin's: a legacy plugin shows as its socket's
 * base name, a managed one as NAME:TAG or REPO/NAME:TAG.
 */
export function isDockerDriverName(driver: string, name: string): boolean {
  const base = driver.split('/').at(-1)?.split(':')[0];
  return driver === name || base === name;
}
