/**
 * Catalogues of hostile values, one per kind of slot in a request. A value the issue (7) says
 * must be refused carries the reason; an input whose only hostile value is such a one and that
 * is accepted is a violation of its own ("accepted-must-refuse"), found even when the kernel
 * and store look unchanged afterwards.
 */

/** A value with, optionally, why tsnet must refuse it in this slot. */
export interface HostileValue {
  readonly value: unknown;
  readonly mustRefuse?: string;
}

const h = (value: unknown, mustRefuse?: string): HostileValue => (mustRefuse ? { value, mustRefuse } : { value });
const all = (values: readonly unknown[], mustRefuse?: string): HostileValue[] => values.map((v) => h(v, mustRefuse));

/** JSON values of the wrong type for any slot. */
export const WRONG_TYPES: readonly HostileValue[] = all([null, 0, -1, 1.5, 1e21, true, false, {}, { a: 1 }, [], ['x'], [1, 2], { __nested: { deeper: [null] } }]);

/** Strings that mean something to a shell, to iptables or ip, to a path, or to a parser. */
export const HOSTILE_STRINGS: readonly string[] = [
  '+', 'e+', '!', '-', '--help', '-j', 'ACCEPT', 'DROP', 'a;reboot', '$(x)', '`id`', '../', '../../etc/passwd', '/', 'a/b',
  'a b', 'a\tb', 'a\nb', 'a:b', '.', '..', 'abcdefghijklmnop', 'abcdefghijklmno', 'ünïcødé', '网络', '😀😀', '', ' ',
  '\u0000', 'a\u0000b', '%s%n', '{{x}}', '\\', '"', "'", 'eth0', 'lo', 'brx0', '-i', '!eth0', 'x'.repeat(300), 'y'.repeat(5000),
];

/** An interface name the issue lists as unacceptable (for a kernel name, or in tsnet's firewall rules). */
const BAD_IFNAME = 'not a usable interface name (1-15 bytes, no "/", whitespace, ":", not "."/"..", no "+", no leading "-" or "!")';
export const IFNAME_VALUES: readonly HostileValue[] = [
  ...all(['+', 'e+', 'eth+', '!', '-', '--help', '-j', '-i', '!eth0', '/', 'a/b', 'a b', 'a\tb', 'a\nb', 'a:b', '.', '..', 'abcdefghijklmnop', 'x'.repeat(300), '\u0000', 'a\u0000b'], BAD_IFNAME),
  ...all(['ACCEPT', 'DROP', 'a;reboot', '$(x)', '`id`', 'abcdefghijklmno', 'ünïcødé', '网络', '😀😀', 'eth0', 'lo', 'brx0', '%s%n']),
];

/** Pools that must never become a network (issue 7 defect 5), and other odd ones. */
export function poolValues4(): HostileValue[] {
  return [
    ...all(['0.0.0.0/0', '127.0.0.0/8', '127.1.0.0/16', '224.0.0.0/4', '239.1.0.0/16', '169.254.0.0/16', '255.255.255.255/32'], 'not a usable IPv4 network (default route, loopback, multicast, link-local or broadcast)'),
    ...all(['::/0', '::1/128', 'ff00::/8', 'fe80::/10', 'fd00:1::/64', '::ffff:10.9.9.0/120'], 'an IPv6 pool in IPv4Data'),
    ...all(['10.0.0.0/8', '10.1.2.3/24', '10.9.9.0/31', '10.9.9.9/32', '192.168.77.0/24', '10.0.0.0/33', '10.0.0.0', '10.0.0.0/', '300.1.1.0/24', 'pool']),
  ];
}

export function poolValues6(): HostileValue[] {
  return [
    ...all(['::/0', '::1/128', 'ff00::/8', 'ff02::/16', 'fe80::/10', '::ffff:0:0/96'], 'not a usable IPv6 network (default route, loopback, multicast, link-local or v4-mapped)'),
    ...all(['10.9.9.0/24', '0.0.0.0/0'], 'an IPv4 pool in IPv6Data'),
    ...all(['fd00::/8', 'fd00:9:9::1/64', 'fd00:9:9::/127', 'fd00:9:9::/129', 'fd00::', '2001:db8::/32']),
  ];
}

/** Gateways relative to the pool `a.b.c.0/24` (issue 7 defect 5). */
export function gatewayValues4(net: string): HostileValue[] {
  return [
    h(`10.250.250.1/24`, 'a gateway outside the pool'),
    h(`${net}.0/24`, 'a gateway equal to the network address'),
    h(`${net}.255/24`, 'a gateway equal to the broadcast address'),
    h(`${net}.1/16`, 'a gateway whose prefix differs from the pool'),
    h(`${net}.1/32`, 'a gateway whose prefix differs from the pool'),
    h('fd00::1/64', 'an IPv6 gateway in an IPv4 pool'),
    h('::1/128', 'an IPv6 gateway in an IPv4 pool'),
    h('127.0.0.1/8', 'a gateway outside the pool'),
    h('0.0.0.0/0', 'a gateway outside the pool'),
    h('224.0.0.1/4', 'a gateway outside the pool'),
    h(`${net}.1`), h(''),
  ];
}

export function gatewayValues6(net6: string): HostileValue[] {
  return [
    h('fd00:eeee::1/64', 'a gateway outside the pool'),
    h(`${net6}::/64`, 'a gateway equal to the network address'),
    h(`${net6}::1/48`, 'a gateway whose prefix differs from the pool'),
    h('::1/128', 'a gateway outside the pool'),
    h('fe80::1/64', 'a gateway outside the pool'),
    h('10.9.9.1/24', 'an IPv4 gateway in an IPv6 pool'),
    h(`${net6}::1`), h(''),
  ];
}

/** Endpoint addresses relative to the network `a.b.c.0/24` whose gateway is `.1` (defect 5). */
export function endpointValues4(net: string): HostileValue[] {
  return [
    h(`${net}.1/24`, 'an endpoint address equal to the gateway'),
    h(`${net}.0/24`, 'an endpoint address equal to the network address'),
    h(`${net}.255/24`, 'an endpoint address equal to the broadcast address'),
    h(`${net}.7/16`, 'an endpoint address whose prefix differs from the pool'),
    h(`${net}.7/32`, 'an endpoint address whose prefix differs from the pool'),
    h('10.250.250.7/24', 'an endpoint address outside the network'),
    h('127.0.0.2/8', 'an endpoint address outside the network'),
    h('224.0.0.5/24', 'an endpoint address outside the network'),
    h(`${net}.7`), h('fd00::7/64'), h('10.0.0.256/24'),
  ];
}

export function endpointValues6(net6: string): HostileValue[] {
  return [
    h('::1/128', 'an IPv6 endpoint address that is loopback'),
    h('fe80::7/64', 'an endpoint address outside the network'),
    h('ff02::1/64', 'an endpoint address that is multicast'),
    h('fd00:eeee::7/64', 'an endpoint address outside the network'),
    h(`${net6}::7/48`, 'an endpoint address whose prefix differs from the pool'),
    h(`${net6}::7`), h('10.0.0.7/24'),
  ];
}

/** MACs that no interface may have (defect 10), and malformed ones. */
export const MAC_VALUES: readonly HostileValue[] = [
  ...all(['ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '33:33:00:00:00:01', '00:00:00:00:00:00', '03:00:00:00:00:01'], 'a broadcast, multicast or zero MAC address'),
  ...all(['zz:zz:zz:zz:zz:zz', '0242ac110002', '02-42-ac-11-00-02', '02:42:ac:11:00', '02:42:ac:11:00:02:03', '02:42:AC:11:00:02', '2:42:ac:11:0:2']),
];

/** `com.docker.network.endpoint.macaddress` is base64 of the 6 bytes. */
export const BASE64_MAC_VALUES: readonly HostileValue[] = [
  ...all(['////////', 'AQBeAAAB', 'AAAAAAAA'], 'a broadcast, multicast or zero MAC address'),
  ...all(['not base64', 'AkIKxwXIAA==', 'AkIK', '']),
];

/** Port numbers and protocols. */
export const PORT_VALUES: readonly HostileValue[] = all([0, 1, 65535, 65536, -1, 1.5, 1e6, '80', null, true]);
export const PROTO_VALUES: readonly HostileValue[] = all([0, 1, 255, 6.5, '6', 'tcp', null]);

/** HostIP of a port binding on an IPv4-only endpoint (defect 8 for "::1"). */
export const HOST_IP_VALUES: readonly HostileValue[] = [
  h('::1', 'an IPv6 host address for an IPv4-only endpoint'),
  h('::', 'an IPv6 host address for an IPv4-only endpoint'),
  h('fe80::1', 'an IPv6 host address for an IPv4-only endpoint'),
  ...all(['127.0.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '169.254.1.1', '203.0.113.9', '10.0.0.256', 'localhost']),
];

/** Keys that are dangerous or absurd in an options map (defect 9). */
export const OPTION_KEYS: readonly HostileValue[] = [
  ...all(['__proto__', 'constructor', 'prototype'], 'an option key that names a JavaScript object property'),
  ...all(['toString', 'hasOwnProperty', 'a'.repeat(41), 'k'.repeat(300), '', ' ', 'com.docker.network.bridge.name ', 'COM.DOCKER.NETWORK.BRIDGE.NAME', '\u0000', 'tsnet.type', 'tsnet.vni']),
];

/** Values of `-o` options that are not strings (defect 9: refuse them by name). */
export const NON_STRING_OPTION_VALUES: readonly HostileValue[] = [
  ...all([{}, { a: 1 }, [], ['x'], null, { __proto__x: 1 }], 'a network option value that is not a string'),
  ...all([0, -1, 1.5, true, false]),
];

/** Values of the bridge options tsnet knows. */
export const MTU_VALUES: readonly HostileValue[] = all(['0', '67', '68', '1500', '65535', '65536', '-1', '1e3', '0x10', 'abc', '', ' 1500', '1500 ']);
export const BOOL_TEXT_VALUES: readonly HostileValue[] = all(['true', 'false', 'TRUE', 'maybe', '', '1', 'yes', ' true']);
export const TYPE_VALUES: readonly HostileValue[] = all(['bridge', 'overlay', 'macvlan', 'ipvlan', 'null', 'x', '', 'BRIDGE', 'bridge ']);

/** A container sandbox path: tsnet must never act on one it does not own. */
export const SANDBOX_VALUES: readonly HostileValue[] = all(['/', '/proc/1/ns/net', '/proc/self/ns/net', '/run/netns/x', '../x', 'relative', '', '/dev/null', `/${'x'.repeat(2000)}`, '/var/run/docker/netns/../../../etc']);

/** Ids: Docker sends 64 hex digits; these are not. */
export const ID_VALUES: readonly HostileValue[] = all(['', ' ', '../x', 'a/b', 'x'.repeat(129), 'x'.repeat(128), 'ünï', '-', '.', '..', 'a b', 'A'.repeat(64)]);

/** Address spaces. */
export const SPACE_VALUES: readonly HostileValue[] = all(['tsnet-local', 'tsnet-global', 'LocalDefault', 'GlobalDefault', 'fakelocal', '', '../x', 'x'.repeat(300)]);

/** IPAM addresses (bare IPs) relative to `a.b.c.0/24`. */
export function ipamAddressValues(net: string): HostileValue[] {
  return all([`${net}.0`, `${net}.255`, `${net}.1`, '10.250.250.7', '::1', 'fd00::7', '0.0.0.0', '255.255.255.255', `${net}.7/24`, `${net}.300`, '']);
}
