import { beforeAll, describe, expect, test } from 'vitest';
import { waitFor } from '../support/exec.js';
import { useOneHost } from '../support/one-host.js';
import { OUTSIDE_IP } from '../support/sim-host.js';

// ipvlan networks (-o tsnet.type=ipvlan) through a real dockerd, on the simulated host's uplink0
// (a veth whose peer is the "outside" namespace). Where the kernel has no ipvlan (this project's
// CI machines), the network must be refused when it is created, saying which module to load, and
// leave nothing behind: that is checked instead, with a SKIP line saying so.

const { host: h, image: testImage, docker, tryDocker, hostLinks } = useOneHost('ipvlan');
let kernelLacks: string | undefined;

beforeAll(async () => {
  // Asked of the kernel directly (not through tsnet), so the branch taken does not depend on the code under test.
  const probe = await h().exec(['ip', 'link', 'add', 'link', 'uplink0', 'name', 'ipvprobe0', 'type', 'ipvlan', 'mode', 'l2'], { allowFail: true });
  if (probe.code === 0) await h().exec(['ip', 'link', 'del', 'ipvprobe0']);
  else kernelLacks = probe.stderr.trim();
});

const pings = async (from: string, to: string) => (await tryDocker('exec', from, 'ping', '-c', '1', '-W', '1', to)).code === 0;

describe('ipvlan networks (-o tsnet.type=ipvlan)', () => {
  test('l2 on the uplink: containers reach each other and the outside; or, without kernel ipvlan, a clear refusal at create', async () => {
    const before = await hostLinks();
    const create = await tryDocker('network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=ipvlan', '-o', 'parent=uplink0',
      '--subnet', '198.18.0.0/24', '--ip-range', '198.18.0.160/27', '--gateway', OUTSIDE_IP, 'ipv');
    if (kernelLacks !== undefined) {
      console.log(`SKIP: ipvlan traffic not tested: this kernel has no ipvlan (ip link add said "${kernelLacks}"); checked that tsnet refuses the network at create instead`);
      expect(create.code).not.toBe(0);
      expect(create.stderr).toMatch(/this kernel cannot create ipvlan interfaces .*load the ipvlan kernel module \(modprobe ipvlan\)/);
      expect((await docker('network', 'ls', '--format', '{{.Name}}')).stdout).not.toMatch(/^ipv$/m);
      expect(await hostLinks()).toEqual(before);
      return;
    }
    expect(create.code, create.stderr).toBe(0);
    await docker('run', '-d', '--name', 'v1', '--network', 'ipv', '--ip', '198.18.0.161', testImage(), 'sleep', '600');
    await docker('run', '-d', '--name', 'v2', '--network', 'ipv', '--ip', '198.18.0.162', testImage(), 'sleep', '600');
    await waitFor(() => pings('v1', '198.18.0.162'), { what: 'v1 to ping v2', timeoutMs: 15_000, intervalMs: 300 });
    await waitFor(() => pings('v1', OUTSIDE_IP), { what: 'v1 to ping the outside', timeoutMs: 15_000, intervalMs: 300 });
    await docker('rm', '-f', 'v1', 'v2');
    await docker('network', 'rm', 'ipv');
    expect(await hostLinks()).toEqual(before);
  });

  test('l3: containers get on-link default routes and no gateway (where the kernel has ipvlan)', async () => {
    if (kernelLacks !== undefined) {
      console.log(`SKIP: ipvlan l3 not tested: this kernel has no ipvlan ("${kernelLacks}"); its routes are checked in test/unit/ipvlan`);
      const r = await tryDocker('network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=ipvlan', '-o', 'ipvlan_mode=l3', '--subnet', '10.239.0.0/24', 'ipv3');
      expect(r.stderr).toMatch(/this kernel cannot create ipvlan interfaces/);
      return;
    }
    await docker('network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=ipvlan', '-o', 'ipvlan_mode=l3', '--subnet', '10.239.0.0/24', 'ipv3');
    await docker('run', '-d', '--name', 'l1', '--network', 'ipv3', testImage(), 'sleep', '600');
    await docker('run', '-d', '--name', 'l2', '--network', 'ipv3', testImage(), 'sleep', '600');
    expect((await docker('exec', 'l1', 'ip', 'route')).stdout).toMatch(/^default dev eth0/m);
    const ip2 = (await docker('inspect', '-f', '{{(index .NetworkSettings.Networks "ipv3").IPAddress}}', 'l2')).stdout.trim();
    await waitFor(() => pings('l1', ip2), { what: 'l1 to ping l2', timeoutMs: 15_000, intervalMs: 300 });
    await docker('rm', '-f', 'l1', 'l2');
    await docker('network', 'rm', 'ipv3');
  });

  test('bad input is refused naming the option, kernel or not', async () => {
    for (const [options, message] of [
      [['-o', 'ipvlan_mode=l4'], /network option "ipvlan_mode": "l4" is not an ipvlan mode/],
      [['-o', 'ipvlan_flag=passthru'], /network option "ipvlan_flag": "passthru" is not an ipvlan flag/],
      [['-o', 'parent=nosuch0'], /network option "parent": interface nosuch0 does not exist on this host/],
      [['-o', 'parent=uplink0.0'], /network option "parent": "uplink0.0" names VLAN 0/],
    ] as const) {
      const r = await tryDocker('network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=ipvlan', ...options, '--subnet', '10.239.1.0/24', 'bad');
      expect(r.code, options.join(' ')).not.toBe(0);
      expect(r.stderr, options.join(' ')).toMatch(message);
    }
  });
});
