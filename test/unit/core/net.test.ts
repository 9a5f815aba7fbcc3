import { describe, expect, test } from 'vitest';
import { addressOf, bigIntToIp, cidrContains, cidrsOverlap, ipToBigInt, networkOf, parseCidr } from '../../../src/core/net.js';
import { checkInterfaceName, isTsnetLinkName, linkName } from '../../../src/core/ids.js';

describe('CIDR parsing', () => {
  test('accepts IPv4 and IPv6 with host bits set', () => {
    expect(parseCidr('10.1.2.3/24', 'x')).toEqual({ family: 4, address: '10.1.2.3', prefix: 24 });
    expect(parseCidr('fd00::1/64', 'x')).toEqual({ family: 6, address: 'fd00::1', prefix: 64 });
  });

  test.each([
    ['10.1.2.3', /not in CIDR form/],
    ['10.1.2.300/24', /not an IP address/],
    ['10.1.2.0/33', /prefix length "33"/],
    ['fd00::/129', /prefix length "129"/],
    ['10.1.2.0/-1', /prefix length/],
    ['10.1.2.0/', /prefix length/],
    ['hello/8', /not an IP address/],
  ])('refuses %s with a message naming the problem', (text, message) => {
    expect(() => parseCidr(text, 'subnet')).toThrow(message);
  });

  test('canonical network, containment and overlap', () => {
    expect(networkOf(parseCidr('10.1.2.3/24', 'x'))).toBe('10.1.2.0/24');
    expect(networkOf(parseCidr('fd00:1:2:3::9/64', 'x'))).toBe('fd00:1:2:3::/64');
    expect(cidrContains(parseCidr('10.1.2.0/24', 'x'), '10.1.2.255')).toBe(true);
    expect(cidrContains(parseCidr('10.1.2.0/24', 'x'), '10.1.3.0')).toBe(false);
    expect(cidrContains(parseCidr('10.1.2.0/24', 'x'), 'fd00::1')).toBe(false);
    expect(cidrsOverlap(parseCidr('10.0.0.0/8', 'x'), parseCidr('10.9.0.0/16', 'x'))).toBe(true);
    expect(cidrsOverlap(parseCidr('10.0.0.0/24', 'x'), parseCidr('10.0.1.0/24', 'x'))).toBe(false);
    expect(addressOf('10.1.2.3/24')).toBe('10.1.2.3');
  });

  test('IPv6 round trip through bigint, including embedded IPv4', () => {
    for (const ip of ['::', '::1', 'fd00::', 'fd00:0:0:1::2', '2001:db8:1:2:3:4:5:6']) {
      expect(bigIntToIp(ipToBigInt(ip), 6)).toBe(ip);
    }
    expect(ipToBigInt('::ffff:10.0.0.1')).toBe((0xffffn << 32n) | 0x0a000001n);
  });
});

describe('kernel names', () => {
  test('are 15 bytes, deterministic and recognisable', () => {
    const name = linkName('b', 'abc');
    expect(name).toMatch(/^tsnb-[0-9a-f]{10}$/);
    expect(Buffer.byteLength(name)).toBe(15);
    expect(linkName('b', 'abc')).toBe(name);
    expect(isTsnetLinkName(name)).toBe(true);
    expect(isTsnetLinkName('docker0')).toBe(false);
    expect(isTsnetLinkName('tsnb-short')).toBe(false);
  });

  test.each(['', 'a-name-that-is-too-long', 'has space', 'a/b', '..', 'eth0:1'])('interface name %j is refused', (name) => {
    expect(() => checkInterfaceName(name, 'bridge name')).toThrow(/bridge name/);
  });
});
