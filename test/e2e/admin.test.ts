import { describe, expect, test } from 'vitest';
import { DOCKER_VERSION } from '../support/dockerd.js';
import { join } from 'node:path';
import { run, waitFor } from '../support/exec.js';
import { execIn } from '../support/netns.js';
import { useOneHost } from '../support/one-host.js';

// The operator's views (issue 10, items 1 and 2) through the dockerd under test: what tsnet
// did, with Docker's names for networks and containers, and the published ports that
// `docker port` cannot show for a plugin network.

const { host, image, docker, tryDocker, stateDir } = useOneHost('admin');
const tsnet = (...args: string[]) => run([process.execPath, 'dist/src/cli.js', ...args, '--state-dir', stateDir()], { allowFail: true, timeoutMs: 20_000 });
const json = async <T>(...args: string[]): Promise<T> => {
  const result = await tsnet(...args, '--json');
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
};

describe(`tsnet status, networks, network and ports on ${DOCKER_VERSION}`, () => {
  test('a container with a published port shows by its Docker name, on its network by name, with host IP and port', async () => {
    await docker('network', 'create', '-d', 'tsnet', '--subnet', '10.238.0.0/24', 'shopnet');
    await docker('run', '-d', '--name', 'shop', '--network', 'shopnet', '-p', '127.0.0.1:18400:7000', '-p', '18401-18402:7001-7002/udp', image(), 'sleep', '600');
    const networkId = (await docker('network', 'inspect', '-f', '{{.Id}}', 'shopnet')).stdout.trim();
    const containerId = (await docker('inspect', '-f', '{{.Id}}', 'shop')).stdout.trim();

    const ports = await json<Array<Record<string, unknown>>>('ports', 'shop');
    expect(ports).toEqual(expect.arrayContaining([
      expect.objectContaining({ container: 'shop', networkName: 'shopnet', network: networkId, proto: 'tcp', containerIp: '10.238.0.2', containerPort: 7000, hostIp: '127.0.0.1', hostPort: 18400 }),
      expect.objectContaining({ container: 'shop', proto: 'udp', containerPort: 7001, hostPort: 18401 }),
      expect.objectContaining({ container: 'shop', proto: 'udp', containerPort: 7002, hostPort: 18402 }),
    ]));
    expect(await json<unknown[]>('ports', containerId.slice(0, 12))).toHaveLength(ports.length);
    expect((await tsnet('ports')).stdout).toContain('127.0.0.1:18400');

    const network = await json<{ name: string; type: string; devices: string[]; endpoints: Array<{ container: string; containerId: string; address: string }> }>('network', 'shopnet');
    expect(network).toMatchObject({ name: 'shopnet', type: 'bridge', endpoints: [{ container: 'shop', containerId, address: '10.238.0.2/24' }] });
    expect(network.devices).toHaveLength(1);
    expect((await tsnet('networks')).stdout).toMatch(new RegExp(`${networkId.slice(0, 12)}\\s+shopnet\\s+bridge\\s+10\\.238\\.0\\.0/24`));

    // Docker is asked in the background (at start-up, after each new network, every 30 s).
    await waitFor(async () => ((await json<{ docker?: { reachable?: boolean } }>('status')).docker?.reachable ? true : undefined), { what: 'tsnet status to show Docker reachable', timeoutMs: 20_000 });
    expect(await json('status')).toMatchObject({ ready: true, networks: { bridge: 1 }, endpoints: 1, ports: 3, docker: { suspectedOrphans: [], lost: [] } });
  });

  test('tsnet doctor inside the simulated host: dockerd, the plugin socket, ip_forward and the state directory pass', async () => {
    const h = host();
    const r = await execIn(h.netns, [process.execPath, 'dist/src/cli.js', 'doctor', '--json', '--socket', join(h.pluginsDir, 'tsnet.sock'), '--state-dir', stateDir(), '--docker-host', `unix://${h.socketPath}`], { allowFail: true, timeoutMs: 60_000 });
    const results = JSON.parse(r.stdout) as Array<{ id: string; status: string; message: string }>;
    const status = (id: string) => results.find((c) => c.id === id)?.status;
    expect(results.find((c) => c.id === 'docker.api')).toMatchObject({ status: 'PASS', message: expect.stringContaining(DOCKER_VERSION === '28.5' ? '28.5' : '20.10') });
    for (const id of ['plugin.socket', 'plugin.socket-mode', 'sysctl.ip_forward', 'state.dir', 'routes.conflicts']) expect([id, status(id)]).toEqual([id, 'PASS']);
    expect(r.code).toBe(results.some((c) => c.status === 'FAIL') ? 1 : 0);
  });

  test('a removed container is gone from every view, and asking for it says so', async () => {
    await docker('rm', '-f', 'shop');
    const gone = await tsnet('ports', 'shop');
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('no container or endpoint "shop" is on a tsnet network');
    expect(await json('network', 'shopnet')).toMatchObject({ endpoints: [] });
    await tryDocker('network', 'rm', 'shopnet');
    expect((await tsnet('network', 'shopnet')).code).toBe(1);
  });
});
