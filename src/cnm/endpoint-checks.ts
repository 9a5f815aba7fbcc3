import { tsnetError } from '../core/errors.js';
import type { IpPool, NetworkRecord } from '../core/model.js';
import { addressOf, cidrContains, parseCidr } from '../core/net.js';
import { specialAddress } from './network-checks.js';

/**
 * Checks of an endpoint's addresses and MAC against its network, before anything is stored or
 * created. The kernel would accept most of these and then traffic would silently break (an
 * endpoint holding the gateway's address answers ARP for it), or refuse them with text that
 * names no option ("Cannot assign requested address"). Pure.
 */
export function checkEndpointAddress(address: string | undefined, network: NetworkRecord, family: 4 | 6): void {
  if (!address) return;
  const what = `endpoint IPv${family} address`;
  const cidr = parseCidr(address, what);
  const ip = cidr.address;
  const pools: readonly IpPool[] = family === 4 ? network.ipv4 : network.ipv6;
  if (pools.length === 0) {
    throw tsnetError('TSNET_ADDR_OUTSIDE', `${what} ${address} was given, but the network has no IPv${family} subnet`, family === 6 ? 'create the network with --ipv6 and an IPv6 --subnet' : 'create the network with an IPv4 --subnet');
  }
  const pool = pools.find((p) => cidrContains(parseCidr(p.pool, 'pool'), ip));
  if (!pool) {
    throw tsnetError('TSNET_ADDR_OUTSIDE', `${what} ${address} is outside the network's subnets (${pools.map((p) => p.pool).join(', ')})`, 'pick an --ip inside the subnet');
  }
  const poolCidr = parseCidr(pool.pool, 'pool');
  if (cidr.prefix !== poolCidr.prefix) {
    throw tsnetError('TSNET_ADDR_PREFIX', `${what} ${address} has prefix length /${cidr.prefix} but its subnet ${pool.pool} has /${poolCidr.prefix}`, `give the address with the subnet's prefix, e.g. ${ip}/${poolCidr.prefix}`);
  }
  const special = specialAddress(poolCidr, ip);
  if (special) throw tsnetError('TSNET_ADDR_RESERVED', `${what} ${ip} is the ${special} of ${pool.pool}`, 'pick another --ip');
  if (pool.gateway && addressOf(pool.gateway) === ip) {
    throw tsnetError('TSNET_ADDR_RESERVED', `${what} ${ip} is the gateway of ${pool.pool}`, 'pick another --ip; the gateway address belongs to the host');
  }
}

/**
 * A MAC the kernel can give a container interface: unicast, not all-zero. Docker only checks
 * the format, and the kernel's answer for these ("Cannot assign requested address") names
 * nothing the user typed.
 */
export function checkEndpointMac(mac: string | undefined): void {
  if (!mac) return;
  const octets = mac.split(':').map((o) => parseInt(o, 16));
  const first = octets[0] ?? 0;
  if (octets.every((o) => o === 0)) {
    throw tsnetError('TSNET_MAC_INVALID', `MAC address ${mac} is all zeros`, 'give a unicast MAC such as 02:42:0a:00:00:02 (--mac-address), or leave it out');
  }
  if ((first & 1) === 1) {
    const kind = octets.every((o) => o === 0xff) ? 'the broadcast address' : 'a multicast address (the lowest bit of its first byte is set)';
    throw tsnetError('TSNET_MAC_INVALID', `MAC address ${mac} is ${kind}`, 'give a unicast MAC such as 02:42:0a:00:00:02 (--mac-address), or leave it out');
  }
}
