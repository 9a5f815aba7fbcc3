import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { addressOf } from '../core/net.js';

/**
 * A MAC for an endpoint Docker gave none: locally administered, unicast (first octet 0x02),
 * then 0x74 ('t' for tsnet), then the IPv4 address, like Docker's 02:42:<ip>, so a reused IP
 * keeps its MAC and neighbours' ARP caches stay right. Random when there is no IPv4 address.
 */
export function generateMac(addressCidr: string | undefined): string {
  const ip = addressCidr ? addressOf(addressCidr) : '';
  const tail = isIP(ip) === 4 ? ip.split('.').map(Number) : [...randomBytes(4)];
  return [0x02, 0x74, ...tail].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
