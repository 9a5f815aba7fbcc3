import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, test } from 'vitest';
import { postPlugin } from '../../../plugin-spec/conformance/client.js';
import { execIn } from '../../support/netns.js';
import { netnsDaemon } from '../../support/netns-daemon.js';

// The admin API and the CLI views through a real daemon (in a namespace of its own, without
// Docker: names are then unknown and every view shows ids).

const METRICS_PORT = 19474;
const LEFTOVER = 'tsnb-00000000ad';
// A tsnet-named link no record owns (as a crash may leave): reconciliation at start removes it.
const fixture = netnsDaemon('admin', { extraArgs: ['--metrics-listen', `127.0.0.1:${METRICS_PORT}`], prepare: (ns) => execIn(ns, ['ip', 'link', 'add', LEFTOVER, 'type', 'bridge']).then(() => undefined) });
const { ns } = fixture;
const NET = `ad${'0'.repeat(61)}1`;
const EP = `ae${'0'.repeat(61)}1`;


/** GET on the admin socket, as Prometheus would scrape it (plain text). */
function scrape(path = '/metrics'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: join(fixture.daemon().stateDir, 'admin.sock'), path, headers: { host: 'tsnet' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A sample's value in Prometheus text, or 0 when the series is absent. */
const sample = (text: string, series: string): number => Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.split(' ')[1] ?? 0);

const call = (method: string, body: unknown) => postPlugin(fixture.daemon().socketPath, method, JSON.stringify(body), 30_000);

/** Runs the built CLI as a user would; never throws, so exit status and stderr can be checked. */
async function tsnet(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['dist/src/cli.js', ...args], { timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('the admin API and tsnet status / networks / network / ports', () => {
  test('the admin socket is root-only and separate from the plugin socket', async () => {
    const socket = join(fixture.daemon().stateDir, 'admin.sock');
    expect(((await stat(socket)).mode & 0o777).toString(8)).toBe('600');
    expect(socket).not.toBe(fixture.daemon().socketPath);
  });

  test('every view shows what the daemon did, by id, and --json parses', async () => {
    const stateDir = fixture.daemon().stateDir;
    const status = await tsnet('status', '--state-dir', stateDir, '--json');
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ ready: true, pid: expect.any(Number), stateDir, networks: {}, endpoints: 0, ports: 0 });
    // The harness starts node as the launchers do, so no memory flag is reported missing.
    const { memory } = JSON.parse(status.stdout) as { memory: { rssBytes: number; heapUsedBytes: number; missingNodeFlags: string[] } };
    expect(memory.rssBytes).toBeGreaterThan(memory.heapUsedBytes);
    expect(memory.heapUsedBytes).toBeGreaterThan(1_000_000);
    expect(memory.missingNodeFlags).toEqual([]);
    expect((await tsnet('status', '--state-dir', stateDir)).stdout).toMatch(/^memory: +\d+ MiB resident, V8 heap \d+ MiB used$/m);
    expect((await tsnet('networks', '--state-dir', stateDir)).stdout).toBe('no tsnet networks\n');

    const created = await call('NetworkDriver.CreateNetwork', {
      NetworkID: NET, Options: { 'com.docker.network.generic': { 'com.docker.network.bridge.name': 'tsadmin0' } },
      IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.133.0.0/24', Gateway: '10.133.0.1/24' }], IPv6Data: [],
    });
    expect(created.status).toBe(200);
    expect((await call('NetworkDriver.CreateEndpoint', { NetworkID: NET, EndpointID: EP, Interface: { Address: '10.133.0.2/24' }, Options: {} })).status).toBe(200);
    expect((await call('NetworkDriver.Join', { NetworkID: NET, EndpointID: EP, SandboxKey: '/var/run/docker/netns/tsnet-admin-test', Options: {} })).status).toBe(200);
    const ports = [{ Proto: 6, Port: 80, HostIP: '127.0.0.1', HostPort: 18080, HostPortEnd: 18080 }];
    expect((await call('NetworkDriver.ProgramExternalConnectivity', { NetworkID: NET, EndpointID: EP, Options: { 'com.docker.network.portmap': ports } })).status).toBe(200);

    const networks = JSON.parse((await tsnet('networks', '--state-dir', stateDir, '--json')).stdout) as Array<{ id: string; devices: string[]; endpoints: Array<{ id: string; address: string; links: string[] }> }>;
    expect(networks).toHaveLength(1);
    expect(networks[0]).toMatchObject({ id: NET, type: 'bridge', devices: ['tsadmin0'], endpoints: [{ id: EP, address: '10.133.0.2/24', joined: true }] });
    expect(networks[0]?.endpoints[0]?.links).toHaveLength(2); // both ends of the veth pair

    const one = await tsnet('network', NET.slice(0, 12), '--state-dir', stateDir);
    expect(one.stdout).toContain(`Network:   (Docker name unknown) ${NET}`);
    expect(one.stdout).toContain('127.0.0.1:18080->80/tcp');
    const byEndpoint = JSON.parse((await tsnet('ports', EP.slice(0, 8), '--state-dir', stateDir, '--json')).stdout) as unknown[];
    expect(byEndpoint).toEqual([expect.objectContaining({ network: NET, endpoint: EP, proto: 'tcp', containerIp: '10.133.0.2', containerPort: 80, hostIp: '127.0.0.1', hostPort: 18080 })]);
    expect(JSON.parse((await tsnet('status', '--state-dir', stateDir, '--json')).stdout)).toMatchObject({ networks: { bridge: 1 }, endpoints: 1, ports: 1 });

    expect((await tsnet('peers', '--state-dir', stateDir)).stdout).toBe('no overlay networks on this host\n');
    const pool = await call('IpamDriver.RequestPool', { AddressSpace: 'tsnet-local', Pool: '10.135.0.0/24', Options: {}, V6: false });
    const poolId = String(pool.json?.PoolID);
    await call('IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
    const spaces = JSON.parse((await tsnet('ipam', '--state-dir', stateDir, '--json')).stdout) as Array<{ space: string; pools: unknown[] }>;
    expect(spaces).toEqual([{ space: 'tsnet-local', shared: false, pools: [expect.objectContaining({ pool: '10.135.0.0/24', size: '254', allocated: 1, gateway: '10.135.0.1' })] }]);
    expect((await tsnet('ipam', '--state-dir', stateDir)).stdout).toContain('10.135.0.0/24');
    await call('IpamDriver.ReleaseAddress', { PoolID: poolId, Address: '10.135.0.1' });
    await call('IpamDriver.ReleasePool', { PoolID: poolId });
    await call('NetworkDriver.RevokeExternalConnectivity', { NetworkID: NET, EndpointID: EP });
    await call('NetworkDriver.Leave', { NetworkID: NET, EndpointID: EP });
    await call('NetworkDriver.DeleteEndpoint', { NetworkID: NET, EndpointID: EP });
    await call('NetworkDriver.DeleteNetwork', { NetworkID: NET });
  }, 60_000);

  test('metrics: counters move with the calls made, on the admin socket and on --metrics-listen; health and readiness answer', async () => {
    const before = (await scrape()).body;
    const refused = await call('NetworkDriver.CreateNetwork', { NetworkID: NET, Options: { 'com.docker.network.generic': { 'tsnet.type': 'nosuchtype' } }, IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.134.0.0/24', Gateway: '10.134.0.1/24' }], IPv6Data: [] });
    expect(refused.status).toBe(200);
    await call('Plugin.Activate', undefined);
    const after = await scrape();
    expect(after.type).toMatch(/^text\/plain/);
    const activate = 'tsnet_calls_total{method="Plugin.Activate",outcome="ok"}';
    expect(sample(after.body, activate) - sample(before, activate)).toBe(1);
    const create = 'tsnet_calls_total{method="NetworkDriver.CreateNetwork",outcome="refused"}';
    expect(sample(after.body, create) - sample(before, create)).toBe(1);
    expect(after.body).toMatch(/tsnet_refusals_total\{code="TSNET_[A-Z_]+"\} \d/);
    expect(after.body).toMatch(/tsnet_kernel_program_duration_seconds_count\{program="(ip|iptables-save|iptables-restore)"\} [1-9]/);
    // What start-up reconciliation did: the leftover link went, the firewall was rewritten.
    expect(sample(after.body, 'tsnet_reconcile_actions_total{source="reconcile",action="removed-leftover-link"}')).toBe(1);
    expect(sample(after.body, 'tsnet_reconcile_actions_total{source="reconcile",action="rewrote-firewall"}')).toBe(1);
    expect((await execIn(ns, ['ip', 'link', 'show', LEFTOVER], { allowFail: true })).code).not.toBe(0);
    // As the README shows it.
    const curl = await promisify(execFile)('curl', ['-sf', '--unix-socket', join(fixture.daemon().stateDir, 'admin.sock'), 'http://tsnet/metrics']);
    expect(curl.stdout).toContain('tsnet_up 1');
    expect((await scrape('/healthz')).status).toBe(200);
    expect(JSON.parse((await scrape('/readyz')).body)).toEqual({ ready: true });
    // The TCP listener is in the daemon's namespace: scraped from inside it.
    const tcp = await execIn(ns, ['busybox', 'wget', '-q', '-O', '-', `http://127.0.0.1:${METRICS_PORT}/metrics`]);
    expect(sample(tcp.stdout, activate)).toBeGreaterThanOrEqual(1);
    const views = await execIn(ns, ['busybox', 'wget', '-q', '-O', '-', `http://127.0.0.1:${METRICS_PORT}/v1/networks`], { allowFail: true });
    expect(views.code).not.toBe(0); // the views are on the root-only socket only
  });

  test('metrics: IPAM pool usage and capacity follow the addresses requested and released, read at each scrape', async () => {
    const pool = await call('IpamDriver.RequestPool', { AddressSpace: 'tsnet-local', Pool: '10.136.0.0/24', Options: {}, V6: false });
    const poolId = String(pool.json?.PoolID);
    await call('IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
    await call('IpamDriver.RequestAddress', { PoolID: poolId, Address: '10.136.0.7', Options: {} });
    const allocated = 'tsnet_ipam_pool_addresses_allocated{space="tsnet-local",pool="10.136.0.0/24"}';
    const held = (await scrape()).body;
    expect(sample(held, allocated)).toBe(2);
    expect(sample(held, 'tsnet_ipam_pool_addresses_capacity{space="tsnet-local",pool="10.136.0.0/24"}')).toBe(254);
    expect(sample(held, 'tsnet_ipam_space_readable{space="tsnet-local"}')).toBe(1);
    await call('IpamDriver.ReleaseAddress', { PoolID: poolId, Address: '10.136.0.7' });
    expect(sample((await scrape()).body, allocated)).toBe(1);
    await call('IpamDriver.ReleaseAddress', { PoolID: poolId, Address: '10.136.0.1' });
    await call('IpamDriver.ReleasePool', { PoolID: poolId });
    expect((await scrape()).body).not.toContain('pool="10.136.0.0/24"');
  });

  test('bad input and a missing daemon: a clear message and a non-zero exit', async () => {
    const stateDir = fixture.daemon().stateDir;
    const unknown = await tsnet('network', 'nosuchnet', '--state-dir', stateDir);
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toBe('tsnet: no tsnet network is named or has the id "nosuchnet"; see tsnet networks\n');
    const noContainer = await tsnet('ports', 'nosuchcontainer', '--state-dir', stateDir);
    expect(noContainer.code).toBe(1);
    expect(noContainer.stderr).toContain('no container or endpoint "nosuchcontainer" is on a tsnet network');
    expect(await tsnet('networks', 'extra', '--state-dir', stateDir)).toMatchObject({ code: 2, stderr: 'tsnet: tsnet networks takes no arguments; see tsnet status --help\n' });
    expect((await tsnet('status', '--bogus')).code).toBe(2);
    const missing = await tsnet('status', '--admin-socket', join(fixture.dir(), 'none.sock'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`cannot reach the tsnet admin API at ${join(fixture.dir(), 'none.sock')}: no tsnet daemon serves it`);
    expect((await tsnet('status', '--help')).stdout).toContain('tsnet ports [CONTAINER|ENDPOINT]');
  }, 60_000);
});
