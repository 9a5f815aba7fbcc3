import { tsnetError } from '../core/errors.js';
import { shortId } from '../core/ids.js';
import type { IpPool, NetworkRecord } from '../core/model.js';
import { addressOf, cidrContains, cidrRange, cidrsOverlap, ipToBigInt, networkOf, parseCidr, type Cidr, type Family } from '../core/net.js';

/**
 * Checks of the address plan Docker hands CreateNetwork, before anything is stored or created.
 * Docker's own IPAM never produces a bad plan, but another IPAM driver or a direct API client
 * can, and each of these would change the host's routing (a gateway outside its pool becomes a
 * connected route next to the uplink's) or break traffic. Pure.
 */

/** Ranges a container network must never cover: they already mean something on every host. */
const RESERVED: Record<Family, ReadonlyArray<{ cidr: string; what: string }>> = {
  4: [
    { cidr: '0.0.0.0/8', what: '"this network" (0.0.0.0/8)' },
    { cidr: '127.0.0.0/8', what: 'loopback (127.0.0.0/8)' },
    { cidr: '169.254.0.0/16', what: 'link-local (169.254.0.0/16)' },
    { cidr: '224.0.0.0/4', what: 'multicast (224.0.0.0/4)' },
    { cidr: '240.0.0.0/4', what: 'reserved and broadcast (240.0.0.0/4)' },
  ],
  6: [
    { cidr: '::/128', what: 'the unspecified address (::)' },
    { cidr: '::1/128', what: 'loopback (::1)' },
    { cidr: '::ffff:0:0/96', what: 'IPv4-mapped (::ffff:0:0/96)' },
    { cidr: 'fe80::/10', what: 'link-local (fe80::/10)' },
    { cidr: 'ff00::/8', what: 'multicast (ff00::/8)' },
  ],
};

const SLOT: Record<Family, { data: string; flag: string }> = {
  4: { data: 'IPv4Data', flag: '--subnet 10.1.0.0/24' },
  6: { data: 'IPv6Data', flag: '--ipv6 --subnet fd00:1::/64' },
};

export function checkNetworkPools(network: Pick<NetworkRecord, 'ipv4' | 'ipv6'>): void {
  const seen: Array<{ pool: IpPool; cidr: Cidr }> = [];
  for (const [family, pools] of [[4, network.ipv4], [6, network.ipv6]] as const) {
    for (const pool of pools) {
      const cidr = parseCidr(pool.pool, `${SLOT[family].data} pool`);
      if (cidr.family !== family) {
        throw tsnetError('TSNET_POOL_FAMILY', `pool ${pool.pool} is an IPv${cidr.family} subnet but arrived among the IPv${family} pools (${SLOT[family].data})`, `pass IPv${cidr.family} subnets only as ${SLOT[cidr.family].flag}`);
      }
      checkNotReserved(cidr, pool.pool);
      const twin = seen.find((s) => cidrsOverlap(s.cidr, cidr));
      if (twin) {
        const same = networkOf(twin.cidr) === networkOf(cidr);
        throw tsnetError('TSNET_POOL_DUPLICATE', `pool ${pool.pool} ${same ? 'is given twice' : `overlaps pool ${twin.pool.pool}`} in the same network`, 'give each --subnet once, and subnets that do not overlap');
      }
      seen.push({ pool, cidr });
      if (pool.gateway) checkGateway(pool.gateway, cidr, pool.pool);
      for (const [name, aux] of Object.entries(pool.auxAddresses)) checkAuxAddress(name, aux, cidr, pool.pool);
    }
  }
}

function checkNotReserved(cidr: Cidr, text: string): void {
  for (const reserved of RESERVED[cidr.family]) {
    if (cidrsOverlap(parseCidr(reserved.cidr, 'reserved range'), cidr)) {
      throw tsnetError('TSNET_POOL_RESERVED', `pool ${text} covers ${reserved.what}, which cannot be routed to a container network`, 'choose a private subnet such as 10.1.0.0/24 or fd00:1::/64');
    }
  }
}

function checkGateway(gateway: string, pool: Cidr, poolText: string): void {
  const cidr = parseCidr(gateway, 'gateway');
  if (cidr.family !== pool.family) {
    throw tsnetError('TSNET_GATEWAY_INVALID', `gateway ${gateway} is an IPv${cidr.family} address in the IPv${pool.family} pool ${poolText}`, `give a gateway inside ${poolText} (--gateway)`);
  }
  if (!cidrContains(pool, cidr.address)) {
    throw tsnetError('TSNET_GATEWAY_INVALID', `gateway ${addressOf(gateway)} is outside its pool ${poolText}`, `give a gateway inside ${poolText} (--gateway), or leave it out`);
  }
  if (cidr.prefix !== pool.prefix) {
    throw tsnetError('TSNET_GATEWAY_INVALID', `gateway ${gateway} has prefix length /${cidr.prefix} but its pool ${poolText} has /${pool.prefix}`, `write the gateway with the pool's prefix, e.g. ${addressOf(gateway)}/${pool.prefix}`);
  }
  const special = specialAddress(pool, cidr.address);
  if (special) throw tsnetError('TSNET_GATEWAY_INVALID', `gateway ${addressOf(gateway)} is the ${special} of ${poolText}`, 'give another address of the pool as --gateway, or leave it out');
}

function checkAuxAddress(name: string, aux: string, pool: Cidr, poolText: string): void {
  const ip = addressOf(aux);
  parseCidr(aux.includes('/') ? aux : `${aux}/${pool.family === 4 ? 32 : 128}`, `aux address "${name}"`);
  if (!cidrContains(pool, ip)) {
    throw tsnetError('TSNET_AUX_INVALID', `aux address ${name}=${ip} is outside its pool ${poolText}`, 'give --aux-address values inside the subnet');
  }
}

/**
 * The network address (and for IPv4 the broadcast address) of a pool, which no gateway or
 * endpoint may take; undefined for any other address. /31 and /32 (/127, /128) have none.
 */
export function specialAddress(pool: Cidr, address: string): string | undefined {
  const bits = pool.family === 4 ? 32 : 128;
  if (pool.prefix >= bits - 1) return undefined;
  const { first, last } = cidrRange(pool);
  const value = ipToBigInt(address);
  if (value === first) return pool.family === 4 ? 'network address' : 'subnet-router anycast address';
  if (pool.family === 4 && value === last) return 'broadcast address';
  return undefined;
}

/**
 * Refuses a network routed on this host whose subnet overlaps one of `routed`, the other
 * networks routed here: the kernel would send that traffic to only one of them.
 */
export function checkRoutedOverlap(network: Pick<NetworkRecord, 'ipv4' | 'ipv6'>, routed: readonly NetworkRecord[]): void {
  for (const pool of [...network.ipv4, ...network.ipv6]) {
    const cidr = parseCidr(pool.pool, 'pool');
    for (const other of routed) {
      const clash = [...other.ipv4, ...other.ipv6].find((p) => cidrsOverlap(parseCidr(p.pool, 'pool'), cidr));
      if (clash) throw tsnetError('TSNET_SUBNET_OVERLAP', `subnet ${networkOf(cidr)} overlaps ${clash.pool} of tsnet network ${shortId(other.id)} on this host`, 'choose a subnet that does not overlap (--subnet)');
    }
  }
}
