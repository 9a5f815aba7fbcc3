import { describe, expect, onTestFinished, test } from 'vitest';
import { waitFor } from '../support/exec.js';
import { execIn } from '../support/netns.js';
import { useOneHost } from '../support/one-host.js';
import { DOCKER_MAJOR, HOST_UPLINK_IP, OUTSIDE_IP } from '../support/sim-host.js';
import { startPeerObserver } from '../support/traffic.js';

// Docker's bridge options (issue 8, item 3) through a real dockerd, checked with real traffic
// between the simulated host, its containers and the "outside" namespace beyond its uplink.
// dockerd passes `-o` options of a remote driver through untouched, so these work on every
// Docker version the suite runs against. Each "cannot reach" follows a positive control.

const { host: h, image: testImage, docker, tryDocker } = useOneHost('bropts');
const ipOf = async (container: string, network: string) => (await docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container)).stdout.trim();
const createNet = (name: string, subnet: string, ...extra: string[]) =>
  docker('network', 'create', '-d', 'tsnet', '--subnet', subnet, '--gateway', subnet.replace(/0\/24$/, '1'), ...extra, name);
/** A container answering `p7000-NAME` on TCP 7000 and `p7001-NAME` on TCP 7001, again and again. */
const runServer = (name: string, network: string, ...extra: string[]) =>
  docker('run', '-d', '--name', name, '--network', network, ...extra, testImage(), 'sh', '-c',
    `(while true; do echo p7001-${name} | nc -l -p 7001; done) & while true; do echo p7000-${name} | nc -l -p 7000; done`);
/** One TCP connection from a namespace (the simulated host's, or the outside's): what it read. */
const fromHost = async (ip: string, port: number) => (await h().exec(['busybox', 'nc', '-w', '2', ip, String(port)], { allowFail: true, timeoutMs: 10_000 })).stdout;
const fromOutside = async (ip: string, port: number) => (await execIn(h().outside, ['busybox', 'nc', '-w', '2', ip, String(port)], { allowFail: true, timeoutMs: 10_000 })).stdout;
const answers = (what: string, probe: () => Promise<string>, expected: string) =>
  waitFor(async () => (await probe()).includes(expected), { what, timeoutMs: 20_000, intervalMs: 300 });
/** A route in the outside namespace to a container subnet via the host, removed when the test ends. */
const routeBack = async (subnet: string) => {
  onTestFinished(async () => {
    await execIn(h().outside, ['ip', 'route', 'del', subnet, 'via', HOST_UPLINK_IP], { allowFail: true });
  });
  await execIn(h().outside, ['ip', 'route', 'add', subnet, 'via', HOST_UPLINK_IP]);
};
const addressesOf = async (bridge: string) => (await h().exec(['ip', '-4', '-o', 'addr', 'show', 'dev', bridge])).stdout.trim();

describe('Docker\'s bridge options through a real dockerd', () => {
  test('host_binding_ipv4=127.0.0.1: -p 18310:7000 answers on the host\'s loopback only; without the option, on the uplink too', async () => {
    await createNet('hb-lo', '10.236.1.0/24', '-o', 'com.docker.network.bridge.host_binding_ipv4=127.0.0.1');
    await createNet('hb-any', '10.236.2.0/24');
    await runServer('hb1', 'hb-lo', '-p', '18310:7000');
    await runServer('hb2', 'hb-any', '-p', '18311:7000');
    await answers('127.0.0.1:18310 to answer', () => fromHost('127.0.0.1', 18310), 'p7000-hb1');
    // Positive control: the same kind of mapping without the option answers from outside.
    await answers(`${HOST_UPLINK_IP}:18311 to answer from outside`, () => fromOutside(HOST_UPLINK_IP, 18311), 'p7000-hb2');
    expect(await fromOutside(HOST_UPLINK_IP, 18310)).not.toContain('p7000-hb1');
    const dnat = (await h().exec(['iptables-save', '-t', 'nat'])).stdout.split('\n').filter((l) => l.includes('--dport 18310 '));
    expect(dnat).toEqual([expect.stringContaining('-d 127.0.0.1/32')]);
  });

  test('container_iface_prefix=app: the container\'s interface is app0', async () => {
    await createNet('pfx', '10.236.3.0/24', '-o', 'com.docker.network.container_iface_prefix=app');
    await docker('run', '-d', '--name', 'pfx1', '--network', 'pfx', testImage(), 'sleep', '600');
    const links = (await docker('exec', 'pfx1', 'ip', '-o', 'link')).stdout;
    expect(links).toMatch(/: app0@/);
    expect(links).not.toMatch(/: eth0@/);
  });

  test('gateway_mode_ipv4=routed: the outside sees the container\'s own address and reaches its published port directly, not the others; no host port is taken', async () => {
    await createNet('routed', '10.236.4.0/24', '-o', 'com.docker.network.bridge.gateway_mode_ipv4=routed');
    await runServer('rt1', 'routed', '-p', '18312:7000');
    const ip = await ipOf('rt1', 'routed');
    await routeBack('10.236.4.0/24');
    const observer = await startPeerObserver(h().outsidePath, 9312, { logDir: h().dir });
    onTestFinished(() => observer.stop());
    const seen = await waitFor(async () => (await tryDocker('exec', 'rt1', 'nc', '-w', '2', OUTSIDE_IP, '9312')).stdout.match(/^seen (\S+)$/m)?.[1], { what: 'rt1 to reach the outside', timeoutMs: 20_000, intervalMs: 300 });
    expect(seen).toBe(ip);
    await answers(`${ip}:7000 (published) to answer the outside directly`, () => fromOutside(ip, 7000), 'p7000-rt1');
    expect(await fromOutside(ip, 7001)).not.toContain('p7001-rt1');
    expect(await fromOutside(HOST_UPLINK_IP, 18312)).not.toContain('p7000-rt1');
    // Docker ignores the host port in routed mode, so a second container may name the same one.
    await runServer('rt2', 'routed', '-p', '18312:7000');
    await answers('rt2\'s published port to answer the outside directly', async () => fromOutside(await ipOf('rt2', 'routed'), 7000), 'p7000-rt2');
    const nat = (await h().exec(['iptables-save', '-t', 'nat'])).stdout;
    expect(nat).not.toContain('10.236.4.0/24');
    expect(nat).not.toContain(`--to-destination ${ip}:7000`);
  });

  test('gateway_mode_ipv4=nat-unprotected: unpublished container ports are reachable by direct routing; with nat they are not', async () => {
    await createNet('unprot', '10.236.5.0/24', '-o', 'com.docker.network.bridge.gateway_mode_ipv4=nat-unprotected');
    await createNet('prot', '10.236.6.0/24');
    await runServer('up1', 'unprot');
    await runServer('pr1', 'prot');
    await routeBack('10.236.5.0/24');
    await routeBack('10.236.6.0/24');
    await answers('an unpublished port of up1 to answer the outside', async () => fromOutside(await ipOf('up1', 'unprot'), 7001), 'p7001-up1');
    expect(await fromOutside(await ipOf('pr1', 'prot'), 7001)).not.toContain('p7001-pr1');
  });

  test('isolated (--internal) and inhibit_ipv4: the bridge has no IPv4 address; containers of the network still talk', async () => {
    // No --gateway: Docker reserves a gateway the user gives whatever the driver says.
    await docker('network', 'create', '-d', 'tsnet', '--subnet', '10.236.7.0/24', '--internal', '-o', 'com.docker.network.bridge.gateway_mode_ipv4=isolated', '-o', 'com.docker.network.bridge.name=tsiso0', 'iso');
    await createNet('inh', '10.236.8.0/24', '-o', 'com.docker.network.bridge.inhibit_ipv4=true', '-o', 'com.docker.network.bridge.name=tsinh0');
    await createNet('internal-plain', '10.236.9.0/24', '--internal', '-o', 'com.docker.network.bridge.name=tsint0');
    expect(await addressesOf('tsiso0')).toBe('');
    expect(await addressesOf('tsinh0')).toBe('');
    expect(await addressesOf('tsint0')).toContain('10.236.9.1/24'); // control: --internal alone keeps it
    // dockerd 28+ asks the driver first (GwAllocCheck) and reserves no gateway for an isolated
    // network, as for its own bridge; 20.10 never asks and always reserves one.
    const gatewayOf = async (network: string) => (JSON.parse((await docker('network', 'inspect', '-f', '{{json .IPAM.Config}}', network)).stdout) as Array<{ Gateway?: string }>)[0]?.Gateway ?? '';
    if (DOCKER_MAJOR >= 28) expect(await gatewayOf('iso')).toBe('');
    expect(await gatewayOf('internal-plain')).toBe('10.236.9.1'); // control: a user-given gateway
    await runServer('iso1', 'iso');
    await docker('run', '-d', '--name', 'iso2', '--network', 'iso', testImage(), 'sleep', '600');
    const ip = await ipOf('iso1', 'iso');
    // The first address goes to the first container on 28+; 20.10 kept it as an unused gateway.
    expect(ip).toBe(DOCKER_MAJOR >= 28 ? '10.236.7.1' : '10.236.7.2');
    await waitFor(async () => (await tryDocker('exec', 'iso2', 'nc', '-w', '2', ip, '7000')).stdout.includes('p7000-iso1'), { what: 'iso2 to reach iso1', timeoutMs: 20_000, intervalMs: 300 });
    // The host has no address on the network, so it cannot reach the containers.
    expect(await fromHost(ip, 7000)).not.toContain('p7000-iso1');
  });

  test('malformed values are refused with the option\'s name, and nothing is created', async () => {
    const before = (await h().exec(['ip', '-o', 'link'])).stdout.split('\n').length;
    for (const [option, message] of [
      ['com.docker.network.bridge.gateway_mode_ipv4=bridged', /gateway_mode_ipv4.*"bridged" is not a gateway mode/],
      ['com.docker.network.bridge.host_binding_ipv4=300.1.1.1', /host_binding_ipv4.*"300.1.1.1" is not an IP address/],
      ['com.docker.network.bridge.trusted_host_interfaces=eth0:e+', /trusted_host_interfaces.*"e\+" cannot be used/],
      ['com.docker.network.container_iface_prefix=x/y', /container_iface_prefix.*"x\/y" is not a valid Linux interface name/],
    ] as const) {
      const r = await tryDocker('network', 'create', '-d', 'tsnet', '--subnet', '10.236.10.0/24', '-o', option, 'bad');
      expect(r.code, option).not.toBe(0);
      expect(r.stderr).toMatch(message);
    }
    expect((await tryDocker('network', 'inspect', 'bad')).code).not.toBe(0);
    expect((await h().exec(['ip', '-o', 'link'])).stdout.split('\n').length).toBe(before);
  });
});
