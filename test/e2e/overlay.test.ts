import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { waitFor } from '../support/exec.js';
import { startLab, type Lab } from '../support/lab.js';

/**
 * The overlay across simulated hosts built by deploy/lab/lab.sh: a network namespace, a dockerd
 * and a tsnet per host on a shared underlay bridge, and etcd on that underlay.
 */
let lab: Lab;
const NET = ['network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=overlay', '-o', 'tsnet.overlay.name=blue', '--ipam-driver', 'tsnet', '--ipam-opt', 'tsnet.scope=global', '--subnet', '10.61.0.0/24', 'blue'];

beforeAll(async () => {
  lab = await startLab(2);
}, 300_000);

afterAll(async () => {
  await lab?.down();
});

const docker = (h: string, ...args: string[]) => lab.docker(h, args);
const tryDocker = (h: string, ...args: string[]) => lab.docker(h, args, { allowFail: true });
const ipOf = async (h: string, c: string) => (await docker(h, 'inspect', '-f', '{{(index .NetworkSettings.Networks "blue").IPAddress}}', c)).stdout.trim();
const macOf = async (h: string, c: string) => (await docker(h, 'inspect', '-f', '{{(index .NetworkSettings.Networks "blue").MacAddress}}', c)).stdout.trim();
const ping = (h: string, c: string, ip: string) => tryDocker(h, 'exec', c, 'ping', '-c', '1', '-W', '2', ip).then((r) => r.code === 0);
const vxlanFdb = async (h: string) => (await lab.exec(h, ['sh', '-c', 'for d in $(ip -o link show type vxlan | cut -d: -f2 | cut -d@ -f1); do bridge fdb show dev $d; done'])).stdout;
const etcdKeys = async (prefix: string) => (await lab.exec('ul', ['etcdctl', '--endpoints', lab.etcdEndpoint, 'get', '--prefix', '--keys-only', prefix])).stdout.split('\n').filter(Boolean);

describe('overlay across hosts', () => {
  test('containers on two hosts get distinct addresses from one subnet and reach each other (ARP included)', async () => {
    for (const h of ['h1', 'h2']) await docker(h, ...NET);
    await docker('h1', 'run', '-d', '--name', 'c1', '--network', 'blue', 'tsbox', 'sleep', '1d');
    await docker('h2', 'run', '-d', '--name', 'c2', '--network', 'blue', 'tsbox', 'sleep', '1d');
    const [ip1, ip2] = [await ipOf('h1', 'c1'), await ipOf('h2', 'c2')];
    expect(ip1).toMatch(/^10\.61\.0\.\d+$/);
    expect(ip2).toMatch(/^10\.61\.0\.\d+$/);
    expect(ip1).not.toBe(ip2);
    expect(await waitFor(async () => ping('h1', 'c1', ip2), 'c1 to reach c2', 10_000, 200)).toBe(true);
    expect(await ping('h2', 'c2', ip1)).toBe(true);
    // The container learnt the peer by ARP: no entry was put into it by hand.
    expect((await docker('h1', 'exec', 'c1', 'arp', '-n')).stdout).toContain(ip2);
  });

  test('the container MTU is the underlay MTU minus 50, and a full-size packet with DF set crosses', async () => {
    expect((await docker('h1', 'exec', 'c1', 'ip', 'link', 'show', 'eth0')).stdout).toContain('mtu 1450');
    // iputils ping (DF set with -M do) from the host's filesystem, inside the container's namespaces.
    const full = await tryDocker('h1', 'run', '--rm', '--network', 'blue', '-v', '/:/host:ro', 'tsbox', 'chroot', '/host', '/usr/bin/ping', '-M', 'do', '-s', '1422', '-c', '1', '-W', '2', await ipOf('h2', 'c2'));
    expect(full.stdout).toContain('1 received');
    const tooBig = await tryDocker('h1', 'run', '--rm', '--network', 'blue', '-v', '/:/host:ro', 'tsbox', 'chroot', '/host', '/usr/bin/ping', '-M', 'do', '-s', '1423', '-c', '1', '-W', '2', await ipOf('h2', 'c2'));
    expect(tooBig.code).not.toBe(0);
  });

  test('outbound traffic and published ports go through docker_gwbridge', async () => {
    expect(await ping('h1', 'c1', '198.19.10.254')).toBe(true);
    await docker('h1', 'run', '-d', '--name', 'web', '--network', 'blue', '-p', '18080:80', 'tsbox', 'sh', '-c', 'while true; do echo overlay-web | nc -l -p 80; done');
    const reply = await waitFor(async () => {
      const r = await lab.exec('ul', ['busybox', 'nc', '-w', '2', '198.19.10.1', '18080'], { allowFail: true, timeoutMs: 5_000 });
      return r.stdout.includes('overlay-web') ? r.stdout : undefined;
    }, 'the published port on h1', 15_000, 300);
    expect(reply).toContain('overlay-web');
  });

  test('a container removed on one host leaves the other host\'s FDB', async () => {
    await docker('h2', 'run', '-d', '--name', 'gone', '--network', 'blue', 'tsbox', 'sleep', '1d');
    const mac = await macOf('h2', 'gone');
    await waitFor(async () => (await vxlanFdb('h1')).includes(mac), 'h1 to learn the new endpoint', 5_000, 20);
    const started = Date.now();
    await docker('h2', 'rm', '-f', 'gone');
    await waitFor(async () => !(await vxlanFdb('h1')).includes(mac), 'h1 to forget the removed endpoint', 5_000, 20);
    console.info(`removed endpoint left h1's FDB ${Date.now() - started} ms after docker rm returned`);
  });

  test('a third host joins later and reaches both', async () => {
    await lab.lab(['up', '3']);
    await docker('h3', ...NET);
    await docker('h3', 'run', '-d', '--name', 'c3', '--network', 'blue', 'tsbox', 'sleep', '1d');
    for (const [h, c] of [['h1', 'c1'], ['h2', 'c2']] as const) {
      const ip = await ipOf(h, c);
      expect(await waitFor(async () => ping('h3', 'c3', ip), `c3 to reach ${c}`, 10_000, 200)).toBe(true);
    }
  });

  test('tsnet killed on a host: traffic holds while it is down, and it re-publishes after restart', async () => {
    const ip2 = await ipOf('h2', 'c2');
    await lab.lab(['tsnet', 'h2', 'kill']);
    expect(await ping('h1', 'c1', ip2)).toBe(true);
    await lab.lab(['tsnet', 'h2', 'start']);
    await docker('h1', 'run', '-d', '--name', 'c4', '--network', 'blue', 'tsbox', 'sleep', '1d');
    const ip4 = await ipOf('h1', 'c4');
    expect(await waitFor(async () => ping('h2', 'c2', ip4), 'c2 to reach c4 after the restart', 10_000, 200)).toBe(true);
  });

  test('etcd stopped for 20 s: existing traffic continues; new endpoints work after it returns', async () => {
    const ip2 = await ipOf('h2', 'c2');
    await lab.lab(['etcd', 'stop']);
    try {
      const failed = await tryDocker('h1', 'run', '-d', '--name', 'during', '--network', 'blue', 'tsbox', 'sleep', '1d');
      expect(failed.stderr).toMatch(/etcd/);
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        expect(await ping('h1', 'c1', ip2)).toBe(true);
        await new Promise((r) => setTimeout(r, 2_000));
      }
    } finally {
      await tryDocker('h1', 'rm', '-f', 'during');
      await lab.lab(['etcd', 'start']);
    }
    await waitFor(async () => {
      const started = await tryDocker('h2', 'run', '-d', '--name', 'after', '--network', 'blue', 'tsbox', 'sleep', '1d');
      // A failed start leaves the container created: remove it before the next try.
      if (started.code !== 0) await tryDocker('h2', 'rm', '-f', 'after');
      return started.code === 0;
    }, 'a new endpoint after etcd returns', 30_000, 1_000);
    const ipAfter = await ipOf('h2', 'after');
    expect(await waitFor(async () => ping('h1', 'c1', ipAfter), 'c1 to reach the new endpoint', 15_000, 300)).toBe(true);
  });

  test('bad input: an invalid VNI and options that disagree with the recorded overlay are refused', async () => {
    const badVni = await tryDocker('h1', 'network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=overlay', '-o', 'tsnet.overlay.name=red', '-o', 'tsnet.vni=16777216', '--subnet', '10.62.0.0/24', 'red');
    expect(badVni.stderr).toMatch(/"tsnet.vni": "16777216" is not an integer between 1 and 16777215/);
    // h3 leaves the overlay, then tries to join it again with another VNI.
    await docker('h3', 'rm', '-f', 'c3');
    await docker('h3', 'network', 'rm', 'blue');
    const mismatch = await tryDocker('h3', 'network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=overlay', '-o', 'tsnet.overlay.name=blue', '-o', 'tsnet.vni=77', '--subnet', '10.61.0.0/24', 'blue');
    expect(mismatch.stderr).toMatch(/overlay blue exists \(created by host h1\) with vni=\d+, but this host asked for vni=77/);
    expect((await tryDocker('h3', 'network', 'inspect', 'blue')).code).not.toBe(0);
    expect((await lab.exec('h3', ['ip', '-o', 'link', 'show'])).stdout).not.toMatch(/tsn[bx]-/);
  });

  test('docker network rm on every host removes the devices and frees the VNI', async () => {
    for (const h of ['h1', 'h2']) {
      const ids = (await docker(h, 'ps', '-aq')).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await docker(h, 'rm', '-f', ...ids);
      await docker(h, 'network', 'rm', 'blue');
      expect((await lab.exec(h, ['ip', '-o', 'link', 'show'])).stdout).not.toMatch(/tsn[bxvp]-/);
    }
    expect(await etcdKeys('tsnet/overlay/')).toEqual([]);
  });
});
