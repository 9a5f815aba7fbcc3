import { describe, expect, test } from 'vitest';
import { checkEndpointAddress, checkEndpointMac } from '../../../src/cnm/endpoint-checks.js';
import { checkNetworkPools } from '../../../src/cnm/network-checks.js';
import type { IpPool } from '../../../src/core/model.js';
import { network } from '../bridge/fixtures.js';

const pool = (subnet: string, gateway?: string, auxAddresses: Record<string, string> = {}): IpPool => ({ addressSpace: 'LocalDefault', pool: subnet, gateway, auxAddresses });
const v4 = (...pools: IpPool[]) => ({ ipv4: pools, ipv6: [] });
const v6 = (...pools: IpPool[]) => ({ ipv4: [], ipv6: pools });

describe('address plan of a new network', () => {
  test('ordinary plans pass: gateway inside, aux inside, /31 and /32 whole, dual stack', () => {
    expect(() => checkNetworkPools(v4(pool('10.1.0.0/24', '10.1.0.1/24', { printer: '10.1.0.130/24' })))).not.toThrow();
    expect(() => checkNetworkPools(v4(pool('10.1.0.0/31', '10.1.0.0/31')))).not.toThrow();
    expect(() => checkNetworkPools({ ipv4: [pool('10.1.0.0/24', '10.1.0.1/24')], ipv6: [pool('fd00:1::/64', 'fd00:1::1/64')] })).not.toThrow();
    expect(() => checkNetworkPools(v4(pool('10.1.0.0/24'), pool('10.2.0.0/24')))).not.toThrow();
  });

  test.each([
    ['0.0.0.0/0', '"this network"'],
    ['127.0.0.0/8', 'loopback'],
    ['127.5.0.0/24', 'loopback'],
    ['224.0.0.0/4', 'multicast'],
    ['169.254.0.0/16', 'link-local'],
    ['240.0.0.0/4', 'reserved and broadcast'],
    ['0.0.0.0/8', '"this network"'],
  ])('IPv4 pool %s is refused as %s', (subnet, what) => {
    expect(() => checkNetworkPools(v4(pool(subnet)))).toThrow(new RegExp(`pool ${subnet.replace(/[./]/g, '\\$&')} covers ${what}`));
  });

  test.each([['::/0', 'unspecified'], ['::1/128', 'loopback'], ['fe80::/64', 'link-local'], ['ff02::/16', 'multicast'], ['::ffff:10.0.0.0/120', 'IPv4-mapped']])('IPv6 pool %s is refused (%s)', (subnet, what) => {
    expect(() => checkNetworkPools(v6(pool(subnet)))).toThrow(new RegExp(what));
  });

  test('a pool of the other family in a slot is refused, naming the slot and the flag', () => {
    expect(() => checkNetworkPools(v4(pool('fd00:1::/64')))).toThrow(/pool fd00:1::\/64 is an IPv6 subnet but arrived among the IPv4 pools \(IPv4Data\)/);
    expect(() => checkNetworkPools(v6(pool('10.1.0.0/24')))).toThrow(/is an IPv4 subnet but arrived among the IPv6 pools/);
  });

  test('the same or overlapping pools twice in one network are refused', () => {
    expect(() => checkNetworkPools(v4(pool('10.1.0.0/24'), pool('10.1.0.0/24')))).toThrow(/is given twice in the same network/);
    expect(() => checkNetworkPools(v4(pool('10.1.0.0/16'), pool('10.1.7.0/24')))).toThrow(/pool 10.1.7.0\/24 overlaps pool 10.1.0.0\/16 in the same network/);
  });

  test('gateways: outside the pool, network or broadcast address, other prefix, other family', () => {
    expect(() => checkNetworkPools(v4(pool('10.1.0.0/24', '192.168.77.5/24')))).toThrow(/gateway 192.168.77.5 is outside its pool 10.1.0.0\/24/);
    expect(() => checkNetworkPools(v4(pool('10.1.0.0/24', '10.1.0.0/24')))).toThrow(/gateway 10.1.0.0 is the network address of 10.1.0.0\/24/);
    expect(() => checkNetworkPools(v4(pool('10.1.0.0/24', '10.1.0.255/24')))).toThrow(/is the broadcast address/);
    expect(() => checkNetworkPools(v4(pool('10.1.0.0/24', '10.1.0.1/16')))).toThrow(/has prefix length \/16 but its pool 10.1.0.0\/24 has \/24/);
    expect(() => checkNetworkPools(v4(pool('10.1.0.0/24', 'fd00::1/24')))).toThrow(/gateway fd00::1\/24 is an IPv6 address in the IPv4 pool/);
    expect(() => checkNetworkPools(v6(pool('fd00:1::/64', 'fd00:1::/64')))).toThrow(/subnet-router anycast address/);
    expect(() => checkNetworkPools(v6(pool('fd00:1::/64', '::1/64')))).toThrow(/gateway ::1 is outside its pool/);
  });

  test('aux addresses outside the pool are refused', () => {
    expect(() => checkNetworkPools(v4(pool('10.1.0.0/24', '10.1.0.1/24', { printer: '10.9.0.1/24' })))).toThrow(/aux address printer=10.9.0.1 is outside its pool/);
  });
});

describe('endpoint addresses and MAC', () => {
  const net = network({ ipv4: [pool('10.99.0.0/24', '10.99.0.1/24')], ipv6: [pool('fd00:99::/64', 'fd00:99::1/64')] });

  test('an ordinary address passes; none is fine', () => {
    expect(() => checkEndpointAddress('10.99.0.2/24', net, 4)).not.toThrow();
    expect(() => checkEndpointAddress('fd00:99::2/64', net, 6)).not.toThrow();
    expect(() => checkEndpointAddress(undefined, net, 4)).not.toThrow();
  });

  test('gateway, network, broadcast, other prefix, outside, family without subnet', () => {
    expect(() => checkEndpointAddress('10.99.0.1/24', net, 4)).toThrow(/10.99.0.1 is the gateway of 10.99.0.0\/24/);
    expect(() => checkEndpointAddress('10.99.0.0/24', net, 4)).toThrow(/is the network address/);
    expect(() => checkEndpointAddress('10.99.0.255/24', net, 4)).toThrow(/is the broadcast address/);
    expect(() => checkEndpointAddress('10.99.0.7/16', net, 4)).toThrow(/has prefix length \/16 but its subnet 10.99.0.0\/24 has \/24/);
    expect(() => checkEndpointAddress('10.50.0.2/24', net, 4)).toThrow(/outside the network's subnets/);
    expect(() => checkEndpointAddress('fd00:1::2/64', network(), 6)).toThrow(/the network has no IPv6 subnet/);
  });

  test('MACs the kernel would refuse are refused with what is wrong', () => {
    expect(() => checkEndpointMac('02:42:0a:00:00:02')).not.toThrow();
    expect(() => checkEndpointMac('ff:ff:ff:ff:ff:ff')).toThrow(/is the broadcast address/);
    expect(() => checkEndpointMac('01:00:5e:00:00:01')).toThrow(/is a multicast address/);
    expect(() => checkEndpointMac('00:00:00:00:00:00')).toThrow(/is all zeros/);
  });
});
