import { describe, expect, test } from 'vitest';
import { DOCKER_VERSION } from '../support/dockerd.js';
import { run, waitFor } from '../support/exec.js';
import { useOneHost } from '../support/one-host.js';

// The operator's views (issue 10, items 1 and 2) through the dockerd under test: what tsnet
// did, with Docker's names for networks and containers, and the published ports that
// `docker port` cannot show for a plugin network.

const { image, docker, tryDocker, stateDir } = useOneHost('admin');
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
