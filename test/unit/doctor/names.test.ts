import { describe, expect, test } from 'vitest';
import type { CheckResult } from '../../../src/doctor/check.js';
import { namesChecks } from '../../../src/doctor/names.js';
import { context, ETCD, healthyProbe } from './fake-probe.js';

const all = async (p: Promise<CheckResult | readonly CheckResult[]>) => [(await p)].flat() as CheckResult[];
const FILE = '/etc/docker/daemon.json';

describe('names.resolver and names.docker-dns', () => {
  test('no etcd, or --dns-listen none: SKIP with the reason', async () => {
    expect(await all(namesChecks(context(healthyProbe())))).toEqual([expect.objectContaining({ id: 'names.resolver', status: 'SKIP', message: expect.stringMatching(/no etcd/) })]);
    expect(await all(namesChecks(context(healthyProbe(), { etcd: ETCD, dnsListen: 'none' })))).toEqual([expect.objectContaining({ status: 'SKIP', message: expect.stringMatching(/--dns-listen none/) })]);
  });

  test('resolver answering and dockerd asking it first, then another server: PASS twice', async () => {
    expect(await all(namesChecks(context(healthyProbe(), { etcd: ETCD })))).toEqual([
      { id: 'names.resolver', status: 'PASS', message: 'tsnet\'s resolver answers DNS on 169.254.53.53:53' },
      { id: 'names.docker-dns', status: 'PASS', message: `dockerd asks 169.254.53.53 first, then 192.168.1.1 (${FILE})` },
    ]);
  });

  test('each way it can be wrong is a WARN that says what and how to fix it', async () => {
    const cases: Array<[Parameters<typeof healthyProbe>[0], string, RegExp]> = [
      [{ dnsAnswers: async () => false, addressOwner: async () => undefined }, 'names.resolver', /169\.254\.53\.53:53: nothing answers DNS there, and 169\.254\.53\.53 is on no interface/],
      [{ dnsAnswers: async () => ({ error: 'EPERM' }) }, 'names.resolver', /169\.254\.53\.53:53: EPERM: containers will not find/],
      [{ dockerDns: async () => ({ file: FILE, servers: [] }) }, 'names.docker-dns', /sets no "dns": dockerd never asks/],
      [{ dockerDns: async () => ({ file: FILE, servers: ['192.168.1.1', '169.254.53.53'] }) }, 'names.docker-dns', /169\.254\.53\.53 must come first/],
      [{ dockerDns: async () => ({ file: FILE, servers: ['192.168.1.1'] }) }, 'names.docker-dns', /169\.254\.53\.53 is missing/],
      [{ dockerDns: async () => ({ file: FILE, servers: ['169.254.53.53'] }) }, 'names.docker-dns', /lists only 169\.254\.53\.53: containers resolve no external name while tsnet is stopped/],
      [{ dockerDns: async () => ({ file: FILE, error: 'not valid JSON (Unexpected token)' }) }, 'names.docker-dns', /cannot read \/etc\/docker\/daemon\.json: not valid JSON/],
    ];
    for (const [broken, id, message] of cases) {
      const results = await all(namesChecks(context(healthyProbe(broken), { etcd: ETCD })));
      const result = results.find((r) => r.id === id);
      expect(result, `${id} ${message}`).toMatchObject({ status: 'WARN', message: expect.stringMatching(message), fix: expect.any(String) });
      expect(results.filter((r) => r.status !== 'PASS')).toHaveLength(1);
    }
  });
});
