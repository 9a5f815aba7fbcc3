import { describe, expect, test } from 'vitest';
import type { CheckResult } from '../../../src/doctor/check.js';
import { etcdChecks, judgeLease } from '../../../src/doctor/etcd.js';
import { etcdctlLeaseId } from '../../../src/doctor/service-probe.js';
import type { HostLeaseState } from '../../../src/doctor/probe.js';
import { context, ETCD, healthyProbe, healthySocket } from './fake-probe.js';

const all = async (p: Promise<CheckResult | readonly CheckResult[]>) => (await p) as CheckResult[];
const lines = (results: CheckResult[]) => results.map((r) => `${r.id} ${r.status}`);

describe('etcd checks', () => {
  test('no etcd configured: all three SKIP with the reason', async () => {
    const results = await all(etcdChecks(context(healthyProbe())));
    expect(lines(results)).toEqual(['etcd.reachable SKIP', 'etcd.auth SKIP', 'etcd.clock SKIP', 'etcd.lease SKIP']);
    expect(results[0]?.message).toMatch(/no --etcd-endpoints/);
  });

  test('reachable, authenticated, clock close: three PASS', async () => {
    const results = await all(etcdChecks(context(healthyProbe(), { etcd: { ...ETCD, auth: { username: 'tsnet', password: 'x' } } })));
    expect(lines(results)).toEqual(['etcd.reachable PASS', 'etcd.auth PASS', 'etcd.clock PASS', 'etcd.lease PASS']);
    expect(results[1]?.message).toBe('read under prefix "tsnet/" with user tsnet');
    expect(JSON.stringify(results)).not.toContain('"x"');
  });

  test('unreachable: FAIL, and the checks that need it SKIP', async () => {
    const probe = healthyProbe({ etcdEndpoint: async (endpoint) => ({ ok: false, endpoint, error: 'connect ECONNREFUSED 10.0.0.5:2379' }) });
    const results = await all(etcdChecks(context(probe, { etcd: ETCD })));
    expect(lines(results)).toEqual(['etcd.reachable FAIL', 'etcd.auth SKIP', 'etcd.clock SKIP', 'etcd.lease SKIP']);
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

  test('lease held by the daemon that answers here: PASS with the key, holder and TTL left, asked for this host id', async () => {
    let askedFor = '';
    const probe = healthyProbe({ etcdHostLease: async (hostId) => { askedFor = hostId; return held; } });
    const results = await all(etcdChecks(context(probe, { etcd: ETCD, hostId: 'node-7' })));
    expect(askedFor).toBe('node-7');
    expect(results[3]).toEqual({ id: 'etcd.lease', status: 'PASS', message: 'tsnet/hosts/node-7 held under lease 7587 by pid 4242 since 2026-12-02T10:00:00.000Z, 8 s of 10 s left' });
  });

  test('no liveness key while the daemon answers: FAIL with systemctl restart tsnet; while it is down: WARN with systemctl start tsnet', async () => {
    const absent: HostLeaseState = { ok: true, key: 'tsnet/hosts/node-7' };
    const up = await all(etcdChecks(context(healthyProbe({ etcdHostLease: async () => absent }), { etcd: ETCD })));
    expect(up[3]).toMatchObject({ id: 'etcd.lease', status: 'FAIL', fix: 'systemctl restart tsnet' });
    expect(up[3]?.message).toMatch(/^the daemon answers but holds no lease: tsnet\/hosts\/node-7 does not exist; other hosts take this host for gone/);
    const down = await all(etcdChecks(context(healthyProbe({ etcdHostLease: async () => absent }), { etcd: ETCD }, { socket: { exists: false } })));
    expect(down[3]).toMatchObject({ id: 'etcd.lease', status: 'WARN', fix: 'systemctl start tsnet' });
  });

  test('an expired lease counts as none; a key on no lease FAILs with the etcdctl that removes it', async () => {
    const expired = judgeLease({ ok: true, key: 'tsnet/hosts/n', entry: { lease: '99', pid: 1 } }, 'n', true);
    expect(expired).toMatchObject({ status: 'FAIL', fix: 'systemctl restart tsnet' });
    expect(expired.message).toMatch(/the lease of tsnet\/hosts\/n \(99\) has expired/);
    const bare = judgeLease({ ok: true, key: 'tsnet/hosts/n', entry: { pid: 1 } }, 'n', true);
    expect(bare).toMatchObject({ status: 'FAIL', fix: 'etcdctl del tsnet/hosts/n && systemctl restart tsnet' });
    expect(bare.message).toMatch(/attached to no lease, so it never expires/);
  });

  test('held while no daemon answers here: WARN that tsnet just stopped or another host may share the host id', async () => {
    const result = judgeLease(held, 'node-7', false);
    expect(result).toMatchObject({ status: 'WARN', fix: 'if tsnet did not just stop here, give each host its own --host-id (tsnet daemon --host-id NAME)' });
    expect(result.message).toMatch(/either tsnet stopped here less than \d+ s ago .* or another host may run with --host-id node-7/);
  });

  test('the lease cannot be read: FAIL with etcd\'s words; credentials refused: the lease SKIPs', async () => {
    const unreadable = await all(etcdChecks(context(healthyProbe({ etcdHostLease: async () => ({ ok: false, error: 'etcd did not answer: deadline exceeded' }) }), { etcd: ETCD })));
    expect(unreadable[3]).toEqual({ id: 'etcd.lease', status: 'FAIL', message: 'cannot read this host\'s liveness key: etcd did not answer: deadline exceeded' });
    const denied = await all(etcdChecks(context(healthyProbe({ etcdRead: async () => ({ ok: false, error: 'permission denied' }) }), { etcd: ETCD }, { socket: healthySocket() })));
    expect(denied[3]).toMatchObject({ id: 'etcd.lease', status: 'SKIP' });
  });
});

const held: HostLeaseState = { ok: true, key: 'tsnet/hosts/node-7', entry: { lease: '7587', ttl: { ttlSeconds: 8, grantedSeconds: 10 }, pid: 4242, since: '2026-12-02T10:00:00.000Z' } };

describe('etcdctlLeaseId', () => {
  test('prints the lease id as etcdctl does: 16 hex digits, leading zeros kept', () => {
    // 0x0976a23ac2c44106: a real id whose hex form starts with a zero, which etcdctl prints padded.
    expect(etcdctlLeaseId(BigInt('0x0976a23ac2c44106').toString())).toBe('0976a23ac2c44106');
    expect(etcdctlLeaseId('7587879021431474180')).toBe('694d8fc4870fc804');
  });
});
