import { describe, expect, test } from 'vitest';
import type { CheckResult } from '../../../src/doctor/check.js';
import { etcdChecks } from '../../../src/doctor/etcd.js';
import { context, ETCD, healthyProbe } from './fake-probe.js';

const all = async (p: Promise<CheckResult | readonly CheckResult[]>) => (await p) as CheckResult[];
const lines = (results: CheckResult[]) => results.map((r) => `${r.id} ${r.status}`);

describe('etcd checks', () => {
  test('no etcd configured: all three SKIP with the reason', async () => {
    const results = await all(etcdChecks(context(healthyProbe())));
    expect(lines(results)).toEqual(['etcd.reachable SKIP', 'etcd.auth SKIP', 'etcd.clock SKIP']);
    expect(results[0]?.message).toMatch(/no --etcd-endpoints/);
  });

  test('reachable, authenticated, clock close: three PASS', async () => {
    const results = await all(etcdChecks(context(healthyProbe(), { etcd: { ...ETCD, auth: { username: 'tsnet', password: 'x' } } })));
    expect(lines(results)).toEqual(['etcd.reachable PASS', 'etcd.auth PASS', 'etcd.clock PASS']);
    expect(results[1]?.message).toBe('read under prefix "tsnet/" with user tsnet');
    expect(JSON.stringify(results)).not.toContain('"x"');
  });

  test('unreachable: FAIL, and the checks that need it SKIP', async () => {
    const probe = healthyProbe({ etcdEndpoint: async (endpoint) => ({ ok: false, endpoint, error: 'connect ECONNREFUSED 10.0.0.5:2379' }) });
    const results = await all(etcdChecks(context(probe, { etcd: ETCD })));
    expect(lines(results)).toEqual(['etcd.reachable FAIL', 'etcd.auth SKIP', 'etcd.clock SKIP']);
    expect(results[0]?.message).toBe('no etcd endpoint answers: http://10.0.0.5:2379: connect ECONNREFUSED 10.0.0.5:2379');
  });

  test('one member of two down: WARN', async () => {
    const probe = healthyProbe({ etcdEndpoint: async (endpoint) => (endpoint.includes('.6') ? { ok: false, endpoint, error: 'timeout' } : { ok: true, endpoint, version: '3.4.23', rttMs: 1 }) });
    const results = await all(etcdChecks(context(probe, { etcd: { ...ETCD, endpoints: ['http://10.0.0.5:2379', 'http://10.0.0.6:2379'] } })));
    expect(results[0]?.status).toBe('WARN');
  });

  test('credentials refused: FAIL with etcd\'s reason; anonymous against an auth-enabled etcd says which flags', async () => {
    const denied = healthyProbe({ etcdRead: async () => ({ ok: false, error: 'etcd refused the credentials or permissions (etcdserver: permission denied)' }) });
    const withUser = await all(etcdChecks(context(denied, { etcd: { ...ETCD, auth: { username: 'tsnet', password: 'x' } } })));
    expect(withUser[1]).toMatchObject({ id: 'etcd.auth', status: 'FAIL' });
    expect(withUser[1]?.fix).toMatch(/etcdctl role grant-permission --prefix=true ROLE readwrite tsnet\/ && etcdctl user grant-role tsnet ROLE/);
    const anonymous = healthyProbe({ etcdRead: async () => ({ ok: false, error: 'etcdserver: user name is empty' }) });
    const noUser = await all(etcdChecks(context(anonymous, { etcd: ETCD })));
    expect(noUser[1]?.fix).toMatch(/--etcd-user NAME --etcd-password-file FILE/);
  });

  test('clock 5 s off: WARN with timedatectl; no Date header: SKIP', async () => {
    const skewed = healthyProbe({ etcdEndpoint: async (endpoint) => ({ ok: true, endpoint, version: '3.4.23', rttMs: 1, skewMs: 5_000 }) });
    const results = await all(etcdChecks(context(skewed, { etcd: ETCD })));
    expect(results[2]).toMatchObject({ status: 'WARN', fix: 'timedatectl set-ntp true' });
    expect(results[2]?.message).toMatch(/5\.0 s behind/);
    const undated = healthyProbe({ etcdEndpoint: async (endpoint) => ({ ok: true, endpoint, version: '3.4.23', rttMs: 1 }) });
    expect((await all(etcdChecks(context(undated, { etcd: ETCD }))))[2]?.status).toBe('SKIP');
  });
});
