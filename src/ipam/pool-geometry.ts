import { tsnetError } from '../core/errors.js';
import { bigIntToIp, cidrRange, ipToBigInt, networkOf, parseCidr, parseIp, type Family } from '../core/net.js';

/**
 * The shape of a pool: which addresses exist, which may be handed out at all (never the IPv4
 * network and broadcast addresses, nor IPv6's subnet-router anycast address), and which are
 * handed out when nobody asks for a specific one (the sub-pool, Docker's --ip-range).
 */
export interface PoolGeometry {
  readonly family: Family;
  /** Canonical pool CIDR, e.g. 10.1.0.0/16. */
  readonly pool: string;
  readonly prefix: number;
  readonly subPool?: string;
  /** First and last address that may ever be allocated. */
  readonly usableFirst: bigint;
  readonly usableLast: bigint;
  /** Range used for automatic allocation (the sub-pool intersected with the usable range). */
  readonly autoFirst: bigint;
  readonly autoLast: bigint;
}

export function poolGeometry(poolText: string, subPoolText?: string): PoolGeometry {
  const cidr = parseCidr(poolText, 'Pool');
  const canonical = networkOf(cidr);
  if (bigIntToIp(ipToBigInt(cidr.address), cidr.family) !== canonical.split('/')[0]) {
    throw tsnetError('TSNET_IPAM_POOL_ALIGN', `pool ${poolText} has host bits set`, `use the network address, e.g. --subnet ${canonical}`);
  }
  const { first, last } = cidrRange(cidr);
  const bits = cidr.family === 4 ? 32 : 128;
  const hostBits = bits - cidr.prefix;
  // /31 and /32 (and IPv6 /127, /128) have no network/broadcast to spare (RFC 3021).
  const usableFirst = hostBits <= 1 ? first : first + 1n;
  const usableLast = cidr.family === 4 && hostBits > 1 ? last - 1n : last;
  let autoFirst = usableFirst;
  let autoLast = usableLast;
  let subPool: string | undefined;
  if (subPoolText) {
    const sub = parseCidr(subPoolText, 'SubPool (--ip-range)');
    const subRange = cidrRange(sub);
    if (sub.family !== cidr.family || subRange.first < first || subRange.last > last) {
      throw tsnetError('TSNET_IPAM_SUBPOOL', `ip-range ${subPoolText} is not inside the subnet ${canonical}`, `choose an --ip-range within ${canonical}`);
    }
    subPool = networkOf(sub);
    autoFirst = subRange.first > usableFirst ? subRange.first : usableFirst;
    autoLast = subRange.last < usableLast ? subRange.last : usableLast;
  }
  return { family: cidr.family, pool: canonical, prefix: cidr.prefix, subPool, usableFirst, usableLast, autoFirst, autoLast };
}

/** Parses an address Docker asks for and checks it may be allocated in this pool. */
export function addressInPool(geometry: PoolGeometry, text: string): bigint {
  const { family } = parseIp(text, 'Address');
  const value = ipToBigInt(text);
  if (family !== geometry.family || value < geometry.usableFirst || value > geometry.usableLast) {
    const why = family === geometry.family && value >= geometry.usableFirst - 1n && value <= geometry.usableLast + 1n ? 'is the network or broadcast address of' : 'is outside';
    throw tsnetError('TSNET_IPAM_ADDR_OUTSIDE', `address ${text} ${why} pool ${geometry.pool}`, `pick an address between ${bigIntToIp(geometry.usableFirst, geometry.family)} and ${bigIntToIp(geometry.usableLast, geometry.family)}`);
  }
  return value;
}

export function formatAddress(geometry: PoolGeometry, value: bigint): string {
  return `${bigIntToIp(value, geometry.family)}/${geometry.prefix}`;
}

export function poolsOverlap(a: PoolGeometry, b: PoolGeometry): boolean {
  if (a.family !== b.family) return false;
  const ra = cidrRange(parseCidr(a.pool, 'pool'));
  const rb = cidrRange(parseCidr(b.pool, 'pool'));
  return ra.first <= rb.last && rb.first <= ra.last;
}

export function usableCount(geometry: PoolGeometry): bigint {
  return geometry.usableLast - geometry.usableFirst + 1n;
}
