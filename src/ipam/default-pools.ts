import { tsnetError } from '../core/errors.js';
import { bigIntToIp, cidrRange, parseCidr, type Family } from '../core/net.js';
import { poolGeometry, poolsOverlap, type PoolGeometry } from './pool-geometry.js';

/** Like dockerd's default-address-pools: carve networks of `size` bits out of `base`. */
export interface DefaultPool {
  readonly base: string;
  readonly size: number;
}

export const DEFAULT_POOLS: readonly DefaultPool[] = [
  { base: '10.224.0.0/12', size: 24 },
  { base: 'fd74:736e:6574::/48', size: 64 },
];

/** Parses "base=10.224.0.0/12,size=24" (the --default-address-pool flag). */
export function parseDefaultPool(text: string): DefaultPool {
  const fields = Object.fromEntries(text.split(',').map((part) => part.split('=', 2).map((s) => s.trim())));
  const base = fields.base;
  const size = Number(fields.size);
  if (!base || !Number.isInteger(size)) {
    throw tsnetError('TSNET_CLI_ARGS', `--default-address-pool "${text}" is not base=CIDR,size=N`, 'e.g. --default-address-pool base=10.224.0.0/12,size=24');
  }
  const cidr = parseCidr(base, '--default-address-pool base');
  const bits = cidr.family === 4 ? 32 : 128;
  if (size < cidr.prefix || size > bits) {
    throw tsnetError('TSNET_CLI_ARGS', `--default-address-pool size ${size} must be between the base prefix ${cidr.prefix} and ${bits}`, 'e.g. base=10.224.0.0/12,size=24');
  }
  poolGeometry(base);
  return { base, size };
}

/**
 * The first network from the default pools of `family` that overlaps no pool already in the
 * space. Scans at most existing.length + 1 candidates per base, since each existing pool can
 * rule out only the candidates it overlaps (and so the walk stays short even for IPv6 bases).
 */
export function chooseDefaultPool(pools: readonly DefaultPool[], family: Family, existing: readonly PoolGeometry[]): string {
  for (const { base, size } of pools) {
    const cidr = parseCidr(base, 'default pool');
    if (cidr.family !== family) continue;
    const { first, last } = cidrRange(cidr);
    const step = 1n << BigInt((family === 4 ? 32 : 128) - size);
    for (let start = first; start + step - 1n <= last; start += step) {
      const candidate = poolGeometry(`${bigIntToIp(start, family)}/${size}`);
      const blocker = existing.find((e) => poolsOverlap(e, candidate));
      if (!blocker) return candidate.pool;
      // Jump past the blocking pool rather than stepping one network at a time.
      const blockerEnd = cidrRange(parseCidr(blocker.pool, 'pool')).last;
      if (blockerEnd > start + step - 1n) start = ((blockerEnd + 1n - first) / step) * step + first - step;
    }
  }
  throw tsnetError('TSNET_IPAM_NO_DEFAULT_POOL', `no free IPv${family} network is left in the default address pools (${pools.filter((p) => parseCidr(p.base, 'pool').family === family).map((p) => `${p.base} size ${p.size}`).join(', ') || 'none configured'})`, 'pass --subnet, or add a pool with tsnet daemon --default-address-pool base=CIDR,size=N');
}
