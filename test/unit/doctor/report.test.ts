import { describe, expect, test } from 'vitest';
import { fail, pass, skip, warn } from '../../../src/doctor/check.js';
import { CHECKS, exitStatus, runDoctor } from '../../../src/doctor/doctor.js';
import type { DockerState } from '../../../src/doctor/probe.js';
import { renderJson, renderText } from '../../../src/doctor/render.js';
import { healthyProbe, OPTIONS } from './fake-probe.js';

describe('runDoctor', () => {
  test('a healthy host: no FAIL, exit 0, every check id present once', async () => {
    const results = await runDoctor(healthyProbe(), OPTIONS);
    expect(results.filter((r) => r.status === 'FAIL')).toEqual([]);
    expect(exitStatus(results)).toBe(0);
    expect(new Set(results.map((r) => r.id)).size).toBe(results.length);
    expect(results.map((r) => r.id)).toEqual([
      'doctor.root', 'kernel.bridge', 'kernel.veth', 'kernel.vxlan', 'kernel.macvlan', 'kernel.ipvlan', 'kernel.8021q', 'kernel.br_netfilter', 'kernel.xfrm',
      'sysctl.ip_forward', 'sysctl.ipv6_forward', 'firewall.forward', 'firewall.docker-user', 'firewall.backend', 'firewall.manager',
      'docker.api', 'plugin.socket', 'plugin.socket-mode', 'plugin.discovery', 'state.dir',
      'etcd.reachable', 'etcd.auth', 'etcd.clock', 'etcd.lease', 'overlay.mtu', 'routes.conflicts', 'vxlan.port', 'names.resolver',
    ]);
  });

  test('one failing check makes exit status 1', async () => {
    const results = await runDoctor(healthyProbe({ sysctl: async () => '0' }), OPTIONS);
    expect(results.filter((r) => r.status === 'FAIL').map((r) => r.id)).toEqual(['sysctl.ip_forward']);
    expect(exitStatus(results)).toBe(1);
  });

  test('Docker unreachable: docker.api FAILs and the checks that need its networks SKIP', async () => {
    const results = await runDoctor(healthyProbe({ docker: async () => ({ reachable: false, error: 'connect ENOENT /var/run/docker.sock' }) }), OPTIONS);
    expect(results.find((r) => r.id === 'docker.api')?.status).toBe('FAIL');
    expect(results.find((r) => r.id === 'routes.conflicts')?.status).toBe('SKIP');
  });

  test('--docker-host none: the probe is never asked and docker.api SKIPs', async () => {
    let asked = false;
    const results = await runDoctor(healthyProbe({ docker: async () => { asked = true; throw new Error('must not be called'); } }), { ...OPTIONS, dockerHost: 'none' });
    expect(asked).toBe(false);
    expect(results.find((r) => r.id === 'docker.api')?.status).toBe('SKIP');
  });

  test('a probe that throws becomes a FAIL line for that check, never an exception', async () => {
    const results = await runDoctor(healthyProbe({ sysctl: async () => { throw new Error('EIO reading /proc/sys'); } }), OPTIONS, CHECKS);
    expect(results.find((r) => r.id === 'sysctl.ip_forward')).toEqual({ id: 'sysctl.ip_forward', status: 'FAIL', message: 'the check itself failed: EIO reading /proc/sys' });
    expect(results).toHaveLength(28);
  });

  test('only the plugin\'s own networks count (driver tsnet, tsnet:TAG), typed by tsnet.type', async () => {
    const probe = healthyProbe({
      docker: async (): Promise<DockerState> => ({
        reachable: true, version: '20.10.24', apiVersion: '1.41', networks: [
          { name: 'bridge', driver: 'bridge', options: {}, subnets: ['172.17.0.0/16'] },
          { name: 'app', driver: 'tsnet', options: {}, subnets: ['10.20.0.0/24'] },
          { name: 'lan', driver: 'tsnet:0.1.0', options: { 'tsnet.type': 'ipvlan', parent: 'eth1' }, subnets: [] },
        ],
      }),
      kernelFeature: async (f) => ({ present: f !== 'ipvlan', evidence: 'test', loadable: false }),
      routes: async () => [{ dst: '172.17.0.0/16', dev: 'docker0' }],
    });
    const results = await runDoctor(probe, OPTIONS);
    expect(results.find((r) => r.id === 'docker.api')?.message).toMatch(/2 network\(s\) of driver tsnet/);
    expect(results.find((r) => r.id === 'kernel.ipvlan')?.message).toMatch(/networks that cannot work: lan/);
    expect(results.find((r) => r.id === 'routes.conflicts')?.status).toBe('PASS');
  });
});

describe('rendering', () => {
  const results = [pass('a.one', 'fine'), fail('b.two', 'broken', 'fix-it --now'), warn('c.three', 'meh', 'tune'), skip('d.four', 'n/a')];

  test('text: one aligned line per check, the fix on the same line, a summary', () => {
    expect(renderText(results)).toBe([
      'a.one    PASS  fine',
      'b.two    FAIL  broken — fix: fix-it --now',
      'c.three  WARN  meh — fix: tune',
      'd.four   SKIP  n/a',
      'doctor: host NOT ready: 1 passed, 1 failed, 1 warnings, 1 skipped',
      '',
    ].join('\n'));
    expect(renderText([pass('a', 'ok'), warn('b', 'meh')])).toMatch(/doctor: host ready: 1 passed, 0 failed, 1 warnings, 0 skipped\n$/);
  });

  test('JSON: an array of {id, status, message, fix?}', () => {
    const parsed = JSON.parse(renderJson(results)) as unknown;
    expect(parsed).toEqual([
      { id: 'a.one', status: 'PASS', message: 'fine' },
      { id: 'b.two', status: 'FAIL', message: 'broken', fix: 'fix-it --now' },
      { id: 'c.three', status: 'WARN', message: 'meh', fix: 'tune' },
      { id: 'd.four', status: 'SKIP', message: 'n/a' },
    ]);
  });

  test('exit status: WARN and SKIP do not fail, FAIL does', () => {
    expect(exitStatus([pass('a', ''), warn('b', ''), skip('c', '')])).toBe(0);
    expect(exitStatus(results)).toBe(1);
    expect(exitStatus([])).toBe(0);
  });
});
