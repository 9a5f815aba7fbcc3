import { describe, expect, test } from 'vitest';
import type { CheckResult } from '../../../src/doctor/check.js';
import { backendCheck, dockerUserCheck, forwardCheck, ipForwardCheck, judgeBackend, managerCheck } from '../../../src/doctor/firewall.js';
import { parseForward } from '../../../src/doctor/host-probe.js';
import { context, healthyIptables, healthyProbe } from './fake-probe.js';

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
