import { describe, expect, test } from 'vitest';
import type { CheckResult } from '../../../src/doctor/check.js';
import { backendCheck, dockerUserCheck, forwardCheck, ipForwardCheck, ipv6ForwardCheck, judgeBackend, managerCheck } from '../../../src/doctor/firewall.js';
import { parseForward } from '../../../src/doctor/host-probe.js';
import { context, healthyIptables, healthyProbe, network } from './fake-probe.js';

const one = async (p: Promise<CheckResult | readonly CheckResult[]>) => (await p) as CheckResult;

describe('sysctl.ip_forward', () => {
  test('1 passes', async () => {
    expect(await one(ipForwardCheck(context(healthyProbe())))).toMatchObject({ status: 'PASS' });
  });
  test('0 fails with the sysctl that fixes it', async () => {
    const result = await one(ipForwardCheck(context(healthyProbe({ sysctl: async () => '0\n' }))));
    expect(result).toMatchObject({ id: 'sysctl.ip_forward', status: 'FAIL', fix: 'sysctl -w net.ipv4.ip_forward=1' });
  });
  test('unreadable fails without a stack', async () => {
    expect(await one(ipForwardCheck(context(healthyProbe({ sysctl: async () => undefined }))))).toMatchObject({ status: 'FAIL' });
  });
});

describe('sysctl.ipv6_forward', () => {
  const asked: string[] = [];
  const withValue = (value: string | undefined) => healthyProbe({ sysctl: async (key) => { asked.push(key); return value; } });
  const v6 = { networks: [network('app', 'bridge', ['10.1.0.0/24']), network('dual', 'bridge', ['10.2.0.0/24', 'fd00:1::/64'])] };
  test('1 passes, read from net/ipv6/conf/all/forwarding', async () => {
    expect(await one(ipv6ForwardCheck(context(withValue('1\n'))))).toEqual({ id: 'sysctl.ipv6_forward', status: 'PASS', message: 'net.ipv6.conf.all.forwarding = 1' });
    expect(asked).toContain('net/ipv6/conf/all/forwarding');
  });
  test('0 with an IPv6 tsnet network: FAIL naming it, with the sysctl that fixes it', async () => {
    const result = await one(ipv6ForwardCheck(context(withValue('0\n'), {}, v6)));
    expect(result).toMatchObject({ id: 'sysctl.ipv6_forward', status: 'FAIL', fix: 'sysctl -w net.ipv6.conf.all.forwarding=1' });
    expect(result.message).toMatch(/^net\.ipv6\.conf\.all\.forwarding = 0: containers on IPv6 network\(s\) dual cannot reach/);
  });
  test('0 without IPv6 networks, or without Docker to ask: WARN with the same fix and the router-advertisement caveat', async () => {
    const none = await one(ipv6ForwardCheck(context(withValue('0'), {}, { networks: [network('app', 'bridge', ['10.1.0.0/24'])] })));
    expect(none).toMatchObject({ status: 'WARN', fix: 'sysctl -w net.ipv6.conf.all.forwarding=1' });
    expect(none.message).toMatch(/no tsnet network has IPv6 now.*accept_ra=1/);
    const unknown = await one(ipv6ForwardCheck(context(withValue('0'), {}, { networks: undefined })));
    expect(unknown).toMatchObject({ status: 'WARN' });
    expect(unknown.message).toMatch(/Docker could not be asked/);
  });
  test('IPv6 disabled in the kernel: SKIP without IPv6 networks, FAIL with one', async () => {
    expect(await one(ipv6ForwardCheck(context(withValue(undefined))))).toMatchObject({ status: 'SKIP' });
    const result = await one(ipv6ForwardCheck(context(withValue(undefined), {}, v6)));
    expect(result).toMatchObject({ status: 'FAIL' });
    expect(result.message).toMatch(/ipv6\.disable=1.*IPv6 network\(s\) dual/);
  });
});

describe('firewall.forward', () => {
  const withForward = (policy: string, jumps: string[]) => healthyProbe({ iptables: async () => healthyIptables({ forward: { policy, jumps } }) });
  test('DROP with the TSNET-FORWARD hook passes, ACCEPT passes', async () => {
    expect((await one(forwardCheck(context(healthyProbe())))).status).toBe('PASS');
    expect((await one(forwardCheck(context(withForward('ACCEPT', []))))).message).toBe('FORWARD policy ACCEPT');
  });
  test('DROP without the hook while the daemon answers: FAIL, restart tsnet', async () => {
    const result = await one(forwardCheck(context(withForward('DROP', ['DOCKER-USER']))));
    expect(result).toMatchObject({ status: 'FAIL', fix: 'systemctl restart tsnet' });
  });
  test('DROP without the hook while the daemon is down: WARN (it adds the hook when it starts)', async () => {
    const result = await one(forwardCheck(context(withForward('DROP', []), {}, { socket: { exists: false } })));
    expect(result.status).toBe('WARN');
  });
  test('iptables missing: FAIL with the package to install', async () => {
    const result = await one(forwardCheck(context(healthyProbe({ iptables: async () => ({ dockerChains: {}, error: 'could not run iptables' }) }))));
    expect(result).toMatchObject({ status: 'FAIL', fix: 'apt-get install iptables' });
    const refused = healthyProbe({ iptables: async () => healthyIptables({ forward: undefined, error: 'Permission denied (you must be root)' }) });
    const notRoot = await one(forwardCheck(context(refused)));
    expect(notRoot).toEqual({ id: 'firewall.forward', status: 'FAIL', message: 'cannot read the FORWARD chain: Permission denied (you must be root)' });
  });
});

describe('firewall.docker-user', () => {
  test('absent or only RETURN passes', async () => {
    expect((await one(dockerUserCheck(context(healthyProbe())))).status).toBe('PASS');
    const absent = healthyProbe({ iptables: async () => healthyIptables({ dockerUser: undefined }) });
    expect((await one(dockerUserCheck(context(absent)))).message).toMatch(/no DOCKER-USER chain/);
  });
  test('a DROP in DOCKER-USER is a WARN naming the rule', async () => {
    const probe = healthyProbe({ iptables: async () => healthyIptables({ dockerUser: ['-A DOCKER-USER -s 10.0.0.0/8 -j DROP', '-A DOCKER-USER -j RETURN'] }) });
    const result = await one(dockerUserCheck(context(probe)));
    expect(result.status).toBe('WARN');
    expect(result.message).toContain('-A DOCKER-USER -s 10.0.0.0/8 -j DROP');
  });
});

describe('firewall.backend', () => {
  test('same backend as Docker passes', async () => {
    expect(await one(backendCheck(context(healthyProbe())))).toMatchObject({ status: 'PASS', message: 'iptables is nf_tables, the same backend Docker uses' });
  });
  test('Docker chains in both backends: FAIL', () => {
    const result = judgeBackend(healthyIptables({ dockerChains: { legacy: true, nft: true } }));
    expect(result.status).toBe('FAIL');
    expect(result.fix).toMatch(/^iptables-legacy -t filter -F/);
  });
  test('Docker in legacy, iptables nf_tables: FAIL, switch alternatives', () => {
    const result = judgeBackend(healthyIptables({ dockerChains: { legacy: true, nft: false } }));
    expect(result).toMatchObject({ status: 'FAIL' });
    expect(result.fix).toMatch(/update-alternatives --set iptables \/usr\/sbin\/iptables-legacy/);
  });
  test('Docker 29 nftables backend: WARN; no Docker at all: PASS', () => {
    expect(judgeBackend(healthyIptables({ dockerChains: { legacy: false, nft: false }, dockerNftables: true })).status).toBe('WARN');
    expect(judgeBackend(healthyIptables({ dockerChains: { legacy: false, nft: false } })).status).toBe('PASS');
  });
  test('no iptables: FAIL', () => {
    expect(judgeBackend({ dockerChains: {}, error: 'could not run iptables' }).status).toBe('FAIL');
  });
});

describe('firewall.manager', () => {
  test('neither: PASS; firewalld or ufw: WARN with an explanation', async () => {
    expect((await one(managerCheck(context(healthyProbe())))).status).toBe('PASS');
    const result = await one(managerCheck(context(healthyProbe({ firewallManagers: async () => ({ firewalld: true, ufw: true }) }))));
    expect(result.status).toBe('WARN');
    expect(result.message).toMatch(/firewalld is running.*ufw is enabled/);
  });
});

test('parseForward reads the policy and the chains FORWARD jumps to, in order', () => {
  const text = '-P FORWARD DROP\n-A FORWARD -j TSNET-FORWARD\n-A FORWARD -j DOCKER-USER\n-A FORWARD -o docker0 -j ACCEPT\n-A FORWARD -j DOCKER-USER\n';
  expect(parseForward(text)).toEqual({ policy: 'DROP', jumps: ['TSNET-FORWARD', 'DOCKER-USER'] });
});
