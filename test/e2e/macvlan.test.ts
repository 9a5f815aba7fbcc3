import { describe, expect, test } from 'vitest';
import { waitFor } from '../support/exec.js';
import { useOneHost } from '../support/one-host.js';
import { execIn } from '../support/netns.js';
import { OUTSIDE_IP } from '../support/sim-host.js';

// macvlan networks (-o tsnet.type=macvlan) through a real dockerd. The parent is the simulated
// host's uplink0, a veth whose peer is the "outside" namespace (OUTSIDE_IP, 198.18.0.2/24): the
// containers sit on that segment next to it.

const { host: h, image: testImage, docker, tryDocker, hostLinks } = useOneHost('macvlan');
const sleeper = (name: string, network: string, ...extra: string[]) => docker('run', '-d', '--name', name, '--network', network, ...extra, testImage(), 'sleep', '600');
const pings = async (from: string, to: string) => (await tryDocker('exec', from, 'ping', '-c', '1', '-W', '1', to)).code === 0;
const SEGMENT = ['--subnet', '198.18.0.0/24', '--ip-range', '198.18.0.128/26', '--gateway', OUTSIDE_IP];

describe('macvlan networks (-o tsnet.type=macvlan)', () => {
  test('bridge mode on the uplink: containers reach each other and the outside on the segment, and the outside reaches them', async () => {
    const before = await hostLinks();
    await docker('network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=macvlan', '-o', 'parent=uplink0', ...SEGMENT, 'mv');
    await sleeper('m1', 'mv', '--ip', '198.18.0.131');
    await sleeper('m2', 'mv', '--ip', '198.18.0.132');
    const links = (await docker('exec', 'm1', 'ip', '-o', 'link')).stdout;
    expect(links).toMatch(/: eth0@if\d+: .*/);
    await waitFor(() => pings('m1', '198.18.0.132'), { what: 'm1 to ping m2', timeoutMs: 15_000, intervalMs: 300 });
    await waitFor(() => pings('m1', OUTSIDE_IP), { what: 'm1 to ping the outside namespace on the segment', timeoutMs: 15_000, intervalMs: 300 });
    expect((await execIn(h().outside, ['ping', '-c', '1', '-W', '2', '198.18.0.132'], { allowFail: true })).code).toBe(0);
    // The default route is the --gateway given (a router on the segment), not tsnet's.
    expect((await docker('exec', 'm1', 'ip', 'route')).stdout).toMatch(new RegExp(`default via ${OUTSIDE_IP.replaceAll('.', '\\.')} dev eth0`));
    // Not through the host's bridge or firewall: no tsnet link and no tsnet rule on the host.
    expect((await hostLinks()).filter((l) => !before.includes(l))).toEqual([]);
    expect((await h().exec(['iptables-save'])).stdout).not.toMatch(/tsnet:/);
    await docker('rm', '-f', 'm1', 'm2');
    await docker('network', 'rm', 'mv');
    expect(await hostLinks()).toEqual(before);
  });

  test('private mode: containers on the network cannot reach each other, but still reach the segment', async () => {
    await docker('network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=macvlan', '-o', 'parent=uplink0', '-o', 'macvlan_mode=private', ...SEGMENT, 'mvp');
    await sleeper('p1', 'mvp', '--ip', '198.18.0.141');
    await sleeper('p2', 'mvp', '--ip', '198.18.0.142');
    await waitFor(() => pings('p1', OUTSIDE_IP), { what: 'p1 to ping the outside (positive control)', timeoutMs: 15_000, intervalMs: 300 });
    expect(await pings('p1', '198.18.0.142')).toBe(false);
    await docker('rm', '-f', 'p1', 'p2');
    await docker('network', 'rm', 'mvp');
  });

  test('no parent: a private link; the containers reach each other and nothing else', async () => {
    const before = await hostLinks();
    await docker('network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=macvlan', '--subnet', '10.238.0.0/24', 'mvi');
    await sleeper('i1', 'mvi');
    await sleeper('i2', 'mvi');
    const ip2 = (await docker('inspect', '-f', '{{(index .NetworkSettings.Networks "mvi").IPAddress}}', 'i2')).stdout.trim();
    await waitFor(() => pings('i1', ip2), { what: 'i1 to ping i2', timeoutMs: 15_000, intervalMs: 300 });
    expect(await pings('i1', OUTSIDE_IP)).toBe(false);
    await docker('rm', '-f', 'i1', 'i2');
    await docker('network', 'rm', 'mvi');
    expect(await hostLinks()).toEqual(before);
  });

  test('parent=uplink0.10: the 802.1Q sub-interface where the kernel has 802.1Q, else a clear refusal; nothing left either way', async () => {
    const before = await hostLinks();
    const r = await tryDocker('network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=macvlan', '-o', 'parent=uplink0.10', '--subnet', '10.238.1.0/24', 'mvv');
    if (r.code === 0) {
      expect(await hostLinks()).toContain('uplink0.10');
      await sleeper('v1', 'mvv');
      await docker('rm', '-f', 'v1');
      await docker('network', 'rm', 'mvv');
    } else {
      console.log(`SKIP: 802.1Q sub-interface not created: this kernel has no 802.1Q (vlan) support; checked tsnet's refusal instead: ${r.stderr.trim()}`);
      expect(r.stderr).toMatch(/this kernel cannot create vlan interfaces.*modprobe 8021q/);
    }
    expect(await hostLinks()).toEqual(before);
  });

  test('bad input is refused naming the option, and nothing is created', async () => {
    const before = await hostLinks();
    await docker('network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=macvlan', '-o', 'parent=uplink0', ...SEGMENT, 'holder');
    const holderId = (await docker('network', 'inspect', '-f', '{{.Id}}', 'holder')).stdout.trim().slice(0, 12);
    for (const [options, message] of [
      [['-o', 'parent=nosuch0'], /network option "parent": interface nosuch0 does not exist on this host/],
      [['-o', 'parent=uplink0.4095'], /network option "parent": "uplink0.4095" names VLAN 4095/],
      [['-o', 'parent=uplink0.abc'], /network option "parent": interface uplink0\.abc does not exist/],
      [['-o', 'parent=lo', '-o', 'macvlan_mode=bridged'], /network option "macvlan_mode": "bridged" is not a macvlan mode/],
      [['-o', 'parent=uplink0'], new RegExp(`parent interface uplink0 is already used by tsnet network ${holderId}`)],
      [['-o', 'parent=uplink0', '--internal'], /an --internal macvlan network has no parent/],
    ] as const) {
      const r = await tryDocker('network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=macvlan', ...options, '--subnet', '10.238.2.0/24', 'bad');
      expect(r.code, options.join(' ')).not.toBe(0);
      expect(r.stderr, options.join(' ')).toMatch(message);
    }
    expect((await docker('network', 'ls', '--format', '{{.Name}}')).stdout).not.toMatch(/^bad$/m);
    await docker('network', 'rm', 'holder');
    expect(await hostLinks()).toEqual(before);
  });
});
