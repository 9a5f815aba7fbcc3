import { isIP } from 'node:net';
import { tsnetError } from './errors.js';
import { truncate } from './ids.js';

/**
 * Small, dependency-free address arithmetic for the drivers: parsing CIDR strings from Docker,
 * containment and overlap tests. Addresses are held as bigint so IPv4 and IPv6 share one path.
 */
export type Family = 4 | 6;

export interface Cidr {
  readonly family: Family;
  /** The address as written (host bits may be set: "10.0.0.1/24" is a gateway in its subnet). */
  readonly address: string;
  readonly prefix: number;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

export function parseIp(text: string, what: string): { family: Family; address: string } {
  const family = isIP(text);
  if (family === 0) {
    throw tsnetError('TSNET_ADDR_INVALID', `${what} "${truncate(text)}" is not an IP address`, 'write it like 10.1.2.3 or fd00::3');
  }
  return { family: family as Family, address: text };
}

export function parseCidr(text: string, what: string): Cidr {
  const slash = text.indexOf('/');
  if (slash < 0) {
    throw tsnetError('TSNET_CIDR_INVALID', `${what} "${truncate(text)}" is not in CIDR form`, 'write it like 10.1.2.0/24');
  }
  const { family, address } = parseIp(text.slice(0, slash), what);
  const prefixText = text.slice(slash + 1);
  const prefix = Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText) || prefix > BITS[family]) {
    throw tsnetError('TSNET_CIDR_INVALID', `${what} "${truncate(text)}" has prefix length "${truncate(prefixText, 8)}"`, `use 0 to ${BITS[family]}`);
  }
  return { family, address, prefix };
}

export function ipToBigInt(address: string): bigint {
  if (isIP(address) === 4) {
    return address.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
  }
  return expandIPv6(address).reduce((acc, group) => (acc << 16n) | BigInt(group), 0n);
}

export function bigIntToIp(value: bigint, family: Family): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
  }
  const groups: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((value >> shift) & 0xffffn).toString(16));
  return compressIPv6(groups);
}

function expandIPv6(address: string): number[] {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    // IPv4-embedded form such as ::ffff:10.0.0.1
    const v4 = ipToBigInt(tail);
    text = `${text.slice(0, lastColon + 1)}${((v4 >> 16n) & 0xffffn).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const zeros = rest === undefined ? 0 : 8 - headGroups.length - restGroups.length;
  return [...headGroups, ...Array<string>(zeros).fill('0'), ...restGroups].map((g) => parseInt(g, 16));
}

function compressIPv6(groups: string[]): string {
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLength && j - i > 1) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  const head = groups.slice(0, bestStart).join(':');
  const tail = groups.slice(bestStart + bestLength).join(':');
  return `${head}::${tail}`;
}

/** First and last address of the subnet a CIDR belongs to. */
export function cidrRange(cidr: Cidr): { first: bigint; last: bigint } {
  const hostBits = BigInt(BITS[cidr.family] - cidr.prefix);
  const mask = (1n << hostBits) - 1n;
  const value = ipToBigInt(cidr.address);
  return { first: value & ~mask, last: value | mask };
}

/** The subnet in canonical form ("10.0.0.1/24" → "10.0.0.0/24"). */
export function networkOf(cidr: Cidr): string {
  return `${bigIntToIp(cidrRange(cidr).first, cidr.family)}/${cidr.prefix}`;
}

export function cidrContains(outer: Cidr, address: string): boolean {
  if (isIP(address) !== outer.family) return false;
  const { first, last } = cidrRange(outer);
  const value = ipToBigInt(address);
  return value >= first && value <= last;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const ra = cidrRange(a);
  const rb = cidrRange(b);
  return ra.first <= rb.last && rb.first <= ra.last;
}

/** Docker sends gateways and addresses as CIDR strings; the kernel and Join want the bare IP. */
export function addressOf(cidrText: string): string {
  const slash = cidrText.indexOf('/');
  return slash < 0 ? cidrText : cidrText.slice(0, slash);
}
