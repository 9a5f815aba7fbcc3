import { describe, expect, test } from 'vitest';
import { createBridgeDriver } from '../../../drivers/bridge/index.js';
import { planRuleset } from '../../../src/cnm/firewall-plan.js';
import { checkRules } from '../../../src/host/firewall.js';
import { RecordingHostNet } from '../../../src/host/recording.js';
import { renderRestore, renderRemoval } from '../../../src/host/firewall-iptables.js';
import type { Driver } from '../../../drivers/driver.js';
import type { NetworkType } from '../../../src/core/model.js';
import { NET_B, endpoint, network, silentLog } from './fixtures.js';

const driver = createBridgeDriver({ host: new RecordingHostNet(), log: silentLog });
const drivers = new Map<NetworkType, Driver>([['bridge', driver]]);
const planned = (overrides: Parameters<typeof network>[0] = {}) => {
  const draft = network(overrides);
  return { ...draft, driverState: { ...driver.planNetwork(draft, []), adopted: false } };
};
const dump = (rules: ReturnType<typeof planRuleset>, family = 4) =>
  rules.filter((r) => r.family === family).map((r) => `-A ${r.chain} ${r.args.join(' ')}`).join('\n');
/** The same without ownership comments, for assertions about single rules. */
const bare = (rules: ReturnType<typeof planRuleset>, family = 4) => dump(rules, family).replaceAll(/ -m comment --comment tsnet:[0-9a-f]+/g, '');

describe('bridge firewall plan', () => {
  test('a network with one published port: golden ruleset', () => {
    const net = planned({ options: { 'com.docker.network.bridge.name': 'tsbr0' } });
    const ep = endpoint({ ports: [{ proto: 'tcp', port: 80, hostIp: '', hostPort: 18080, hostPortEnd: 18080 }, { proto: 'udp', port: 81, hostIp: '127.0.0.1', hostPort: 18081, hostPortEnd: 18081 }] });
    expect(dump(planRuleset([{ network: net, endpoints: [ep] }], drivers))).toBe(`
-A TSNET-FORWARD -j TSNET-ISOLATION-1
-A TSNET-ISOLATION-1 -i tsbr0 ! -o tsbr0 -j TSNET-ISOLATION-2
-A TSNET-ISOLATION-1 -i tsbr0 -j RETURN
-A TSNET-ISOLATION-1 -i docker0 -j TSNET-ISOLATION-3
-A TSNET-ISOLATION-1 -i br-+ -j TSNET-ISOLATION-3
-A TSNET-ISOLATION-2 -o tsbr0 -j DROP
-A TSNET-ISOLATION-2 -o docker0 -j DROP
-A TSNET-ISOLATION-2 -o br-+ -j DROP
-A TSNET-ISOLATION-3 -o tsbr0 -j DROP
-A TSNET-FORWARD -o tsbr0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment tsnet:aaaaaaaaaaaa -j ACCEPT
-A TSNET-FORWARD -i tsbr0 -o tsbr0 -m comment --comment tsnet:aaaaaaaaaaaa -j ACCEPT
-A TSNET-FORWARD -i tsbr0 -m comment --comment tsnet:aaaaaaaaaaaa -j ACCEPT
-A TSNET-FORWARD -d 10.99.0.2/32 -o tsbr0 -p tcp -m tcp --dport 80 -m comment --comment tsnet:aaaaaaaaaaaa -j ACCEPT
-A TSNET-PORTS -p tcp -m tcp --dport 18080 -m comment --comment tsnet:aaaaaaaaaaaa -j DNAT --to-destination 10.99.0.2:80
-A TSNET-POSTROUTING -s 10.99.0.2/32 -d 10.99.0.2/32 -p tcp -m tcp --dport 80 -m comment --comment tsnet:aaaaaaaaaaaa -j MASQUERADE
-A TSNET-PORTS -d 127.0.0.1/32 -p udp -m udp --dport 18081 -m comment --comment tsnet:aaaaaaaaaaaa -j DNAT --to-destination 10.99.0.2:81
-A TSNET-POSTROUTING -s 10.99.0.2/32 -d 10.99.0.2/32 -p udp -m udp --dport 81 -m comment --comment tsnet:aaaaaaaaaaaa -j MASQUERADE
-A TSNET-FORWARD -o tsbr0 -m comment --comment tsnet:aaaaaaaaaaaa -j DROP
-A TSNET-POSTROUTING -s 10.99.0.0/24 ! -o tsbr0 -m comment --comment tsnet:aaaaaaaaaaaa -j MASQUERADE
-A TSNET-POSTROUTING -s 127.0.0.0/8 -o tsbr0 -m comment --comment tsnet:aaaaaaaaaaaa -j MASQUERADE`.trim());
    expect(dump(planRuleset([{ network: net, endpoints: [ep] }], drivers), 6)).toBe('');
  });

  test('a port published to loopback is reachable directly only from the trusted host interfaces', () => {
    const lo = { proto: 'tcp' as const, port: 80, hostIp: '127.0.0.1', hostPort: 18080, hostPortEnd: 18080 };
    const plain = bare(planRuleset([{ network: planned({ options: { 'com.docker.network.bridge.name': 'tsbr0' } }), endpoints: [endpoint({ ports: [lo] })] }], drivers));
    expect(plain).not.toContain('--dport 80 -j ACCEPT');
    expect(plain).toContain('-A TSNET-PORTS -d 127.0.0.1/32 -p tcp -m tcp --dport 18080 -j DNAT --to-destination 10.99.0.2:80');
    const trusted = planned({ options: { 'com.docker.network.bridge.name': 'tsbr0', 'com.docker.network.bridge.trusted_host_interfaces': 'eth3:vx1' } });
    const text = bare(planRuleset([{ network: trusted, endpoints: [endpoint({ ports: [lo] })] }], drivers));
    expect(text).toContain('-A TSNET-FORWARD -i eth3 -d 10.99.0.2/32 -o tsbr0 -p tcp -m tcp --dport 80 -j ACCEPT');
    expect(text).toContain('-A TSNET-FORWARD -i vx1 -d 10.99.0.2/32 -o tsbr0 -p tcp -m tcp --dport 80 -j ACCEPT');
  });

  test('gateway modes: routed translates nothing and opens the container port; nat-unprotected opens every port', () => {
    const port = { proto: 'tcp' as const, port: 80, hostIp: '', hostPort: 18080, hostPortEnd: 18080 };
    const routed = planned({ options: { 'com.docker.network.bridge.name': 'tsbr0', 'com.docker.network.bridge.gateway_mode_ipv4': 'routed' } });
    const text = bare(planRuleset([{ network: routed, endpoints: [endpoint({ ports: [port] })] }], drivers));
    expect(text).toContain('-A TSNET-FORWARD -d 10.99.0.2/32 -o tsbr0 -p tcp -m tcp --dport 80 -j ACCEPT');
    expect(text).toContain('-A TSNET-FORWARD -o tsbr0 -j DROP');
    expect(text).not.toMatch(/DNAT|MASQUERADE/);
    const open = planned({ options: { 'com.docker.network.bridge.name': 'tsbr0', 'com.docker.network.bridge.gateway_mode_ipv4': 'nat-unprotected' } });
    const openText = bare(planRuleset([{ network: open, endpoints: [endpoint({ ports: [port] })] }], drivers));
    expect(openText).toContain('-A TSNET-FORWARD -o tsbr0 -j ACCEPT');
    expect(openText).not.toContain('-A TSNET-FORWARD -o tsbr0 -j DROP');
    expect(openText).toContain('-j DNAT --to-destination 10.99.0.2:80');
    expect(openText).toContain('-A TSNET-POSTROUTING -s 10.99.0.0/24 ! -o tsbr0 -j MASQUERADE');
  });

  test('internal network: only intra-network traffic, no NAT', () => {
    const net = planned({ internal: true, options: { 'com.docker.network.bridge.name': 'tsint' } });
    const text = bare(planRuleset([{ network: net, endpoints: [endpoint()] }], drivers));
    expect(text).toContain('-A TSNET-FORWARD -i tsint -o tsint -j ACCEPT');
    expect(text).toContain('-A TSNET-FORWARD -i tsint -j DROP');
    expect(text).toContain('-A TSNET-FORWARD -o tsint -j DROP');
    expect(text).not.toContain('MASQUERADE');
  });

  test('two networks isolate each other; pending networks contribute nothing', () => {
    const a = planned({ options: { 'com.docker.network.bridge.name': 'tsa' } });
    const b = planned({ id: NET_B, ipv4: [{ addressSpace: 'x', pool: '10.98.0.0/24', gateway: '10.98.0.1/24', auxAddresses: {} }], options: { 'com.docker.network.bridge.name': 'tsb' } });
    const text = bare(planRuleset([{ network: a, endpoints: [] }, { network: b, endpoints: [] }], drivers));
    expect(text).toContain('-A TSNET-ISOLATION-2 -o tsa -j DROP\n-A TSNET-ISOLATION-2 -o tsb -j DROP');
    const onlyA = dump(planRuleset([{ network: a, endpoints: [] }, { network: { ...b, state: 'pending' }, endpoints: [] }], drivers));
    expect(onlyA).not.toContain('tsb');
  });

  test('icc and masquerade can be switched off', () => {
    const net = planned({ options: { 'com.docker.network.bridge.name': 'tsq', 'com.docker.network.bridge.enable_icc': 'false', 'com.docker.network.bridge.enable_ip_masquerade': 'false' } });
    const text = bare(planRuleset([{ network: net, endpoints: [] }], drivers));
    expect(text).toContain('-A TSNET-FORWARD -i tsq -o tsq -j DROP');
    expect(text).not.toContain('MASQUERADE');
  });

  test('IPv6 network gets ip6tables rules with bracketed DNAT targets', () => {
    const net = planned({ ipv4: [], ipv6: [{ addressSpace: 'x', pool: 'fd00:99::/64', gateway: 'fd00:99::1/64', auxAddresses: {} }], options: { 'com.docker.network.bridge.name': 'ts6' } });
    const ep = endpoint({ address: undefined, addressV6: 'fd00:99::2/64', ports: [{ proto: 'tcp', port: 80, hostIp: '', hostPort: 8080, hostPortEnd: 8080 }] });
    const text = bare(planRuleset([{ network: net, endpoints: [ep] }], drivers), 6);
    expect(text).toContain('-A TSNET-PORTS -p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd00:99::2]:80');
    expect(text).toContain('-A TSNET-POSTROUTING -s fd00:99::/64 ! -o ts6 -j MASQUERADE');
  });
});

describe('iptables-restore rendering', () => {
  const saved = `*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n-A FORWARD -j DOCKER-USER\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n`;

  test('declares (and so flushes) every tsnet chain and adds missing hooks once', () => {
    const text = renderRestore([{ family: 4, chain: 'TSNET-FORWARD', args: ['-i', 'x', '-j', 'ACCEPT'] }], saved);
    expect(text).toBe([
      '*filter', ':TSNET-FORWARD - [0:0]', ':TSNET-ISOLATION-1 - [0:0]', ':TSNET-ISOLATION-2 - [0:0]', ':TSNET-ISOLATION-3 - [0:0]',
      '-A TSNET-FORWARD -i x -j ACCEPT', '-I FORWARD 1 -j TSNET-FORWARD', 'COMMIT',
      '*nat', ':TSNET-PORTS - [0:0]', ':TSNET-POSTROUTING - [0:0]',
      '-A PREROUTING -m addrtype --dst-type LOCAL -j TSNET-PORTS', '-A OUTPUT -m addrtype --dst-type LOCAL -j TSNET-PORTS', '-I POSTROUTING 1 -j TSNET-POSTROUTING', 'COMMIT', '',
    ].join('\n'));
  });

  test('existing hooks are kept, duplicates removed', () => {
    const withHooks = saved.replace('-A FORWARD -j DOCKER-USER', '-A FORWARD -j TSNET-FORWARD\n-A FORWARD -j TSNET-FORWARD\n-A FORWARD -j DOCKER-USER');
    const text = renderRestore([], withHooks);
    expect(text).toContain('-D FORWARD -j TSNET-FORWARD');
    expect(text).not.toContain('-I FORWARD');
  });

  test('refuses arguments that could break the restore format or change what a rule matches', () => {
    const rule = (...args: string[]) => [{ family: 4 as const, chain: 'TSNET-FORWARD' as const, args }];
    expect(() => checkRules(rule('-i', 'x y', '-j', 'ACCEPT'))).toThrow(/contains characters tsnet never writes/);
    expect(() => checkRules(rule('-i', 'x\nCOMMIT'))).toThrow(/contains characters/);
    for (const name of ['+', 'e+', '-j', '!', '--help']) {
      expect(() => checkRules(rule('-i', name, '-j', 'ACCEPT'))).toThrow(/is not a literal interface name/);
    }
    expect(() => checkRules([{ family: 6, chain: 'TSNET-POSTROUTING', args: ['-s', '10.0.0.0/24', '-j', 'MASQUERADE'] }])).toThrow(/address 10.0.0.0\/24 is not an IPv6 address/);
    expect(() => checkRules(rule('-i', 'br-+', '-j', 'TSNET-ISOLATION-3'))).not.toThrow();
    expect(() => checkRules(rule('-o', 'tsnb-0123456789', '-d', '10.0.0.2/32', '-j', 'ACCEPT'))).not.toThrow();
  });

  test('removal deletes hooks and chains it finds, nothing else', () => {
    const present = `*filter\n:FORWARD DROP [0:0]\n:TSNET-FORWARD - [0:0]\n-A FORWARD -j DOCKER-USER\n-A FORWARD -j TSNET-FORWARD\n-A TSNET-FORWARD -j ACCEPT\nCOMMIT\n`;
    expect(renderRemoval(present)).toBe('*filter\n:TSNET-FORWARD - [0:0]\n-D FORWARD -j TSNET-FORWARD\n-X TSNET-FORWARD\nCOMMIT\n');
    expect(renderRemoval(saved)).toBe('');
  });
});
