import { describe, expect, test } from 'vitest';
import { isBase64Mac, isCidr, isCidr4, isCidr6, isIPv4, isIPv6, isIp, isMac } from '../../../plugin-spec/validators.js';

describe('address validators accept what Go prints and refuse the rest', () => {
  test.each(['0.0.0.0', '10.199.5.1', '255.255.255.255', '192.0.2.10'])('IPv4 %s', (ip) => {
    expect(isIPv4(ip)).toBe(true);
    expect(isIp(ip)).toBe(true);
  });
  test.each(['', '10.0.0', '10.0.0.1.2', '256.0.0.1', '010.0.0.1', '1.2.3.-4', ' 10.0.0.1', '10.0.0.1 ', '1e1.0.0.1', '0x10.0.0.1', '10..0.1'])('not IPv4 %j', (ip) => {
    expect(isIPv4(ip)).toBe(false);
  });

  test.each(['::', '::1', 'fd00::1', 'fd00:199:6::', 'fe80::42:acff:fe11:2', '2001:db8:0:0:0:0:0:1', '1:2:3:4:5:6:7::', '::ffff:10.0.0.1', '64:ff9b::192.0.2.33', 'FD00::A'])('IPv6 %s', (ip) => {
    expect(isIPv6(ip)).toBe(true);
    expect(isIp(ip)).toBe(true);
  });
  test.each(['', ':', ':::', 'fd00:::1', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'fe80::1%eth0', 'g::1', '::ffff:10.0.0', '10.0.0.1::', '1:2:3:4:5:6:7:8::', '::1.2.3.4:5'])('not IPv6 %j', (ip) => {
    expect(isIPv6(ip)).toBe(false);
  });

  test('CIDR prefix lengths must be in range and decimal', () => {
    expect(isCidr4('10.0.0.0/0')).toBe(true);
    expect(isCidr4('10.0.0.2/32')).toBe(true);
    expect(isCidr4('10.0.0.2/33')).toBe(false);
    expect(isCidr4('10.0.0.2/024')).toBe(false);
    expect(isCidr4('10.0.0.2/')).toBe(false);
    expect(isCidr4('10.0.0.2')).toBe(false);
    expect(isCidr4('10.0.0.2/2/4')).toBe(false);
    expect(isCidr4('fd00::/64')).toBe(false);
    expect(isCidr6('fd00::/64')).toBe(true);
    expect(isCidr6('fd00::2/128')).toBe(true);
    expect(isCidr6('fd00::2/129')).toBe(false);
    expect(isCidr6('10.0.0.0/8')).toBe(false);
    expect(isCidr('10.0.0.0/8')).toBe(true);
    expect(isCidr('::ffff:10.0.0.1/120')).toBe(true);
    expect(isCidr(`${'1'.repeat(100)}/8`)).toBe(false);
  });

  test('MAC addresses: six hex pairs, or the base64 of six bytes', () => {
    expect(isMac('02:42:0a:c7:05:c8')).toBe(true);
    expect(isMac('02:42:0A:C7:05:C8')).toBe(true);
    expect(isMac('02-42-0a-c7-05-c8')).toBe(false);
    expect(isMac('02:42:0a:c7:05')).toBe(false);
    expect(isMac('02:42:0a:c7:05:c8:00:01')).toBe(false);
    expect(isBase64Mac('AkIKxwXI')).toBe(true);
    expect(isBase64Mac(Buffer.from('02420ac705c8', 'hex').toString('base64'))).toBe(true);
    expect(isBase64Mac('AkIKxwXI=')).toBe(false);
    expect(isBase64Mac('AkIKxw')).toBe(false);
  });
});
