import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DnsServer } from '../../../src/dns/server.js';
import { ServiceProbe } from '../../../src/doctor/service-probe.js';

/** doctor's names.* probes against a real resolver (tsnet's DnsServer on loopback) and real files. */
let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'tsnet-doctor-names-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

const OPTIONS = { socketPath: '/x/tsnet.sock', stateDir: '/x', dockerHost: 'none', hostId: 'h', vxlanPort: 4789, vxlanPeers: [], dnsListen: '127.0.0.1' };

describe('ServiceProbe.dnsAnswers and dockerDns', () => {
  test('a resolver that refuses the host still answers; a closed port does not', async () => {
    const server = new DnsServer({ address: '127.0.0.1', port: 0, names: { lookup: () => ({ kind: 'unknown' }) }, log: pino({ level: 'silent' }) });
    await server.start();
    try {
      const probe = new ServiceProbe(OPTIONS);
      expect(await probe.dnsAnswers('127.0.0.1', server.port)).toBe(true);
      const closed = server.port;
      await server.stop();
      expect(await probe.dnsAnswers('127.0.0.1', closed)).toBe(false);
      expect(await probe.dnsAnswers('not-an-ip')).toEqual({ error: 'not-an-ip is not an IP address' });
    } finally {
      await server.stop();
    }
  });

  test('dockerd\'s dns: from the file, none when the file or the key is missing, a clear error when it is broken', async () => {
    const file = join(dir, 'daemon.json');
    const probe = new ServiceProbe({ ...OPTIONS, dockerConfigFile: file });
    expect(await probe.dockerDns()).toEqual({ file, servers: [] });
    await writeFile(file, JSON.stringify({ dns: ['169.254.53.53', '192.0.2.53'], 'log-level': 'info' }));
    expect(await probe.dockerDns()).toEqual({ file, servers: ['169.254.53.53', '192.0.2.53'] });
    await writeFile(file, JSON.stringify({ 'log-level': 'info' }));
    expect(await probe.dockerDns()).toEqual({ file, servers: [] });
    await writeFile(file, '{"dns": "169.254.53.53"}');
    expect(await probe.dockerDns()).toEqual({ file, error: '"dns" is not a list of addresses' });
    await writeFile(file, '{"dns": [');
    expect(await probe.dockerDns()).toMatchObject({ file, error: expect.stringMatching(/^not valid JSON/) });
  });
});
