import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import { pluginConformance } from '../support/protocol-contract.js';
import { postPlugin } from '../../plugin-spec/conformance/client.js';
import { ipLinkProbe } from '../../plugin-spec/conformance/links.js';
import { renderText } from '../../plugin-spec/conformance/report.js';
import { runConformance } from '../../plugin-spec/conformance/run.js';
import { startSimulatedHost, stopAllSimulatedHosts, type SimulatedHost } from '../support/sim-host.js';
import { startTsnet, type TsnetDaemon } from '../support/tsnet-daemon.js';
import { run, waitFor } from '../support/exec.js';

let host: SimulatedHost;
let tsnet: TsnetDaemon;

beforeAll(async () => {
  host = await startSimulatedHost('proto');
  tsnet = await startTsnet(host);
}, 120_000);

afterAll(async () => {
  await tsnet?.process.stop(10_000);
  await stopAllSimulatedHosts();
});

// The conformance kit, as a plugin author runs it (`tsnet conformance --socket … --netns …`),
// against the daemon this host's dockerd uses: every check passes for both dockerd versions'
// behaviour; only the real-Docker mode is left to test/e2e/conformance-docker.test.ts.
describe('the conformance kit against the daemon', () => {
  test('every check passes, Join\'s interfaces looked at in the host\'s namespace', async () => {
    const report = await runConformance({ socketPath: tsnet.socketPath, docker: ['20.10', '28'], linkProbe: ipLinkProbe(host.netnsPath) });
    expect(report.results.filter((r) => r.outcome.status === 'fail'), renderText(report)).toEqual([]);
    expect(report.results.filter((r) => r.outcome.status === 'skip').map((r) => r.id)).toEqual(['docker.network-create', 'docker.ping', 'docker.ipv6', 'docker.ping6', 'docker.publish', 'docker.cleanup']);
    expect(report.results.flatMap((r) => r.leftovers)).toEqual([]);
  });
});

// tsnet's own error contract, stricter than what dockerd needs: every bad field is named. A
// literal list, not the daemon's own constant: were IpamDriver dropped from the code, Activate
// must fail this suite and the IpamDriver tests must still run (and fail), not be skipped.
pluginConformance({ socketPath: () => tsnet.socketPath, implements: ['NetworkDriver', 'IpamDriver'] });

describe('the daemon process', () => {
  test('semantic errors come back as {"Err"} with what to do, and change nothing', async () => {
    const net = 'd1'.repeat(32);
    const body = JSON.stringify({ NetworkID: net, Options: { 'com.docker.network.generic': { 'com.docker.network.driver.mtu': 'huge' } }, IPv4Data: [{ AddressSpace: 'x', Pool: '10.233.0.0/24', Gateway: '10.233.0.1/24' }] });
    const reply = await postPlugin(tsnet.socketPath, 'NetworkDriver.CreateNetwork', body);
    expect(reply.status).toBe(200);
    expect(reply.json?.Err).toMatch(/"com.docker.network.driver.mtu": "huge" is not an integer between 68 and 65535; pass e.g. -o com.docker.network.driver.mtu=1450/);
    expect((await host.exec(['ip', '-o', 'link'])).stdout).not.toMatch(/tsnb-/);
    const unknown = await postPlugin(tsnet.socketPath, 'NetworkDriver.Join', JSON.stringify({ NetworkID: net, EndpointID: net, SandboxKey: '/x' }));
    expect(unknown.status).toBe(200);
    expect(unknown.json?.Err).toMatch(/tsnet has no network d1d1d1d1d1d1/);
  });

  test('without etcd, overlay networks and global pools are refused saying how to configure etcd', async () => {
    const body = JSON.stringify({ NetworkID: 'f3'.repeat(32), Options: { 'com.docker.network.generic': { 'tsnet.type': 'overlay', 'tsnet.overlay.name': 'x' } }, IPv4Data: [{ AddressSpace: 'x', Pool: '10.234.0.0/24' }] });
    const overlay = await postPlugin(tsnet.socketPath, 'NetworkDriver.CreateNetwork', body);
    expect(overlay.json?.Err).toMatch(/overlay networks need etcd, and this tsnet daemon runs without it; start tsnet daemon with --etcd-endpoints/);
    const pool = await postPlugin(tsnet.socketPath, 'IpamDriver.RequestPool', JSON.stringify({ AddressSpace: 'tsnet-global', Pool: '10.235.0.0/24' }));
    expect(pool.json?.Error).toMatch(/the global address space needs etcd/);
    const caps = await postPlugin(tsnet.socketPath, 'NetworkDriver.GetCapabilities');
    expect(caps.json).toEqual({ Scope: 'local', ConnectivityScope: 'global', GwAllocChecker: true });
  });

  test('a second daemon on the same socket or state directory refuses to start', async () => {
    const other = await startTsnet(host, { name: 'tsnet-b' }).then((d) => {
      // It should not have started; if it did, it is stopped (by its PID) however the test ends.
      onTestFinished(async () => { await d.process.stop(10_000); });
      return 'started';
    }, (err: Error) => err.message);
    expect(other).toMatch(/is in use by process|state directory/);
    const again = await run([process.execPath, 'dist/src/cli.js', 'daemon', '--socket', tsnet.socketPath, '--state-dir', `${host.dir}/other-state`], { allowFail: true, timeoutMs: 20_000 });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/another process is already serving/);
    expect((await postPlugin(tsnet.socketPath, 'Plugin.Activate')).status).toBe(200);
  });

  test('one JSON log line per call with method, ids, duration and outcome', async () => {
    const net = 'e2'.repeat(32);
    await postPlugin(tsnet.socketPath, 'NetworkDriver.DeleteNetwork', JSON.stringify({ NetworkID: net }));
    // The log reaches its file shortly after the reply: wait for the line, then make sure it is the only one.
    const read = async () => (await tsnet.process.log()).split('\n').filter((l) => l.includes(`"networkId":"${net}"`)).map((l) => JSON.parse(l) as Record<string, unknown>);
    await waitFor(async () => (await read()).length > 0, { what: 'the call\'s log line', timeoutMs: 5_000, intervalMs: 50 });
    const lines = await read();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ method: 'NetworkDriver.DeleteNetwork', outcome: 'ok', msg: 'call' });
    expect(lines[0]?.ms).toEqual(expect.any(Number));
  });

  test('the socket is owner/group only (0660)', async () => {
    const mode = (await run(['stat', '-c', '%a', tsnet.socketPath])).stdout.trim();
    expect(mode).toBe('660');
  });

  test('SIGTERM removes the socket and exits 0', async () => {
    const code = await tsnet.process.stop(10_000);
    expect(code).toBe(0);
    expect((await run(['test', '-e', tsnet.socketPath], { allowFail: true })).code).not.toBe(0);
  });
});
