import { beforeAll, describe, expect, test } from 'vitest';
import { DOCKER_MAJOR, DOCKER_VERSION } from '../support/dockerd.js';
import { waitFor } from '../support/exec.js';
import { execIn } from '../support/netns.js';
import { useOneHost } from '../support/one-host.js';
import { HOST_UPLINK_IP, HOST_UPLINK_IP6 } from '../support/sim-host.js';

// What Docker 28 added to the way users make networks (issue 8, items 4 and 5), through the
// dockerd under test: IPv6-only networks and gateway priorities. On 20.10 the client has neither
// flag: that is checked as such (the flag is refused by the client, and nothing reaches tsnet).

beforeAll(() => console.log(`dockerd under test: ${DOCKER_VERSION}`));
const { host: h, image: testImage, docker, tryDocker } = useOneHost('docker28');
const inspect = async (container: string, format: string) => (await docker('inspect', '-f', format, container)).stdout.trim();
const fromOutside = async (ip: string, port: number) => (await execIn(h().outside, ['busybox', 'nc', '-w', '2', ip, String(port)], { allowFail: true, timeoutMs: 10_000 })).stdout;
const serve = (name: string, ...networkArgs: string[]) =>
  docker('run', '-d', '--name', name, ...networkArgs, testImage(), 'sh', '-c', `while true; do echo p7000-${name} | nc -l -p 7000; done`);
const defaultRoute = async (container: string) => (await docker('exec', container, 'ip', 'route', 'show', 'default')).stdout.trim();
const tsnetDnat = async (port: number) => (await h().exec(['iptables-save', '-t', 'nat'])).stdout.split('\n').filter((l) => l.includes('TSNET-PORTS') && l.includes(`--dport ${port} `));

describe(`Docker 28's network features (dockerd ${DOCKER_VERSION})`, () => {
  test('an IPv6-only network (--ipv4=false --ipv6): no IPv4 address, an IPv6 one, -p answers on the host\'s IPv6 address only', async () => {
    const created = await tryDocker('network', 'create', '-d', 'tsnet', '--ipv4=false', '--ipv6', '--subnet', 'fd00:237:1::/64', 'v6only');
    if (DOCKER_MAJOR < 28) {
      // Version-specific: the 20.10 client does not know --ipv4 (added in Docker 28).
      expect(created.code).not.toBe(0);
      expect(created.stderr).toMatch(/unknown flag: --ipv4/);
      return;
    }
    expect(created.stderr).toBe('');
    await serve('v6a', '--network', 'v6only', '-p', '18320:7000');
    expect(await inspect('v6a', '{{(index .NetworkSettings.Networks "v6only").IPAddress}}')).toBe('');
    expect(await inspect('v6a', '{{(index .NetworkSettings.Networks "v6only").GlobalIPv6Address}}')).toMatch(/^fd00:237:1::/);
    await waitFor(async () => (await fromOutside(HOST_UPLINK_IP6, 18320)).includes('p7000-v6a'), { what: `[${HOST_UPLINK_IP6}]:18320 to answer`, timeoutMs: 20_000, intervalMs: 300 });
    expect(await fromOutside(HOST_UPLINK_IP, 18320)).not.toContain('p7000-v6a');
    const v4 = (await h().exec(['iptables-save', '-t', 'nat'])).stdout;
    expect(v4).not.toContain('--dport 18320 ');
  });

  test('--gw-priority moves the container\'s gateway and its published port between Docker\'s bridge and a tsnet network, and back', async () => {
    await docker('network', 'create', '-d', 'tsnet', '--subnet', '10.237.2.0/24', '--gateway', '10.237.2.1', 'gwtsnet');
    await docker('network', 'create', '--subnet', '10.237.3.0/24', '--gateway', '10.237.3.1', 'gwbridge');
    await serve('gw1', '--network', 'gwbridge', '-p', '18321:7000');
    expect(await defaultRoute('gw1')).toContain('via 10.237.3.1');
    const connect = await tryDocker('network', 'connect', '--gw-priority', '10', 'gwtsnet', 'gw1');
    if (DOCKER_MAJOR < 28) {
      // Version-specific: --gw-priority is a Docker 28 flag; 20.10 picks the gateway by itself.
      expect(connect.code).not.toBe(0);
      expect(connect.stderr).toMatch(/unknown flag: --gw-priority/);
      return;
    }
    expect(connect.stderr).toBe('');
    // The tsnet endpoint is now the gateway: default route via tsnet's gateway, the port DNATed by tsnet.
    await waitFor(async () => (await defaultRoute('gw1')).includes('via 10.237.2.1'), { what: 'the default route to move to gwtsnet', timeoutMs: 15_000, intervalMs: 300 });
    await waitFor(async () => (await tsnetDnat(18321)).length === 1, { what: 'tsnet to publish port 18321', timeoutMs: 15_000, intervalMs: 300 });
    expect((await tsnetDnat(18321))[0]).toContain(`--to-destination ${await inspect('gw1', '{{(index .NetworkSettings.Networks "gwtsnet").IPAddress}}')}:7000`);
    await waitFor(async () => (await fromOutside(HOST_UPLINK_IP, 18321)).includes('p7000-gw1'), { what: 'port 18321 to answer through tsnet', timeoutMs: 20_000, intervalMs: 300 });
    // Disconnected: back to Docker's bridge, and tsnet's rule is gone.
    await docker('network', 'disconnect', 'gwtsnet', 'gw1');
    await waitFor(async () => (await defaultRoute('gw1')).includes('via 10.237.3.1'), { what: 'the default route to return to gwbridge', timeoutMs: 15_000, intervalMs: 300 });
    expect(await tsnetDnat(18321)).toEqual([]);
    await waitFor(async () => (await fromOutside(HOST_UPLINK_IP, 18321)).includes('p7000-gw1'), { what: 'port 18321 to answer through Docker\'s bridge again', timeoutMs: 20_000, intervalMs: 300 });
  });
});
