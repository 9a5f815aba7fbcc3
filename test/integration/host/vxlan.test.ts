import { describe, expect, test } from 'vitest';
import { sh, withTestNetns } from './netns-fixture.js';

/**
 * Two "hosts" joined by an underlay veth, each with a VXLAN device and one "container": on a
 * bridge with the VXLAN device, by a veth pair (`bridge`), or as a macvlan link of the VXLAN
 * device (`macvlan`, the overlay's default layout).
 */
async function twoHosts(layout: 'bridge' | 'macvlan' = 'bridge') {
  const a = await withTestNetns('va');
  const b = await withTestNetns('vb');
  await sh(['ip', '-n', a.ns, 'link', 'add', 'ul0', 'type', 'veth', 'peer', 'name', 'ul0', 'netns', b.ns]);
  for (const [h, ip] of [[a, '198.19.1.1'], [b, '198.19.1.2']] as const) {
    await sh(['ip', '-n', h.ns, 'addr', 'add', `${ip}/24`, 'dev', 'ul0']);
    await sh(['ip', '-n', h.ns, 'link', 'set', 'ul0', 'up']);
  }
  const setup = async (h: typeof a, local: string, containerIp: string, mac: string, index = 1) => {
    const link = layout === 'bridge' ? 'tsnp-0000000ov1' : `tsnm-000000ov1${index}`;
    if (layout === 'bridge') {
      await h.host.apply({ op: 'ensure-bridge', name: 'tsnb-0000000ov1', mtu: 1450 });
      await h.host.apply({ op: 'ensure-up', dev: 'tsnb-0000000ov1' });
      await h.host.apply({ op: 'ensure-vxlan', name: 'tsnx-0000000ov1', vni: 4242, local, port: 4789, mtu: 1450, master: 'tsnb-0000000ov1' });
      await h.host.apply({ op: 'ensure-veth', host: 'tsnv-0000000ov1', peer: link, master: 'tsnb-0000000ov1', mtu: 1450, peerMac: mac });
    } else {
      await h.host.apply({ op: 'ensure-vxlan', name: 'tsnx-0000000ov1', vni: 4242, local, port: 4789, mtu: 1450 });
      await h.host.apply({ op: 'ensure-macvlan', name: link, parent: 'tsnx-0000000ov1', mode: 'bridge', mtu: 1450, mac });
    }
    // The container end goes into a namespace of its own, as Docker would move it.
    const c = await withTestNetns('vc');
    await sh(['ip', '-n', h.ns, 'link', 'set', link, 'netns', c.ns]);
    await sh(['ip', '-n', c.ns, 'addr', 'add', `${containerIp}/24`, 'dev', link]);
    await sh(['ip', '-n', c.ns, 'link', 'set', link, 'up']);
    return c;
  };
  const ca = await setup(a, '198.19.1.1', '10.77.0.2', '02:00:0a:4d:00:02');
  const cb = await setup(b, '198.19.1.2', '10.77.0.3', '02:00:0a:4d:00:03');
  return { a, b, ca, cb, setup };
}

describe('VXLAN programming against a real kernel', () => {
  test.each(['bridge', 'macvlan'] as const)('%s layout: static FDB, neighbour and flood entries carry traffic between two hosts; removal stops it', async (layout) => {
    const { a, b, ca } = await twoHosts(layout);
    const pingOnce = () => ca.exec(['busybox', 'ping', '-c', '1', '-W', '1', '10.77.0.3']).then(() => true, () => false);
    // A failed ARP attempt leaves a FAILED neighbour entry for a moment: allow a few tries.
    const ping = async () => {
      for (let i = 0; i < 4; i++) if (await pingOnce()) return true;
      return false;
    };
    expect(await ping()).toBe(false); // learning is off and nothing is programmed yet
    for (const [h, remoteVtep, remoteIp, remoteMac] of [[a, '198.19.1.2', '10.77.0.3', '02:00:0a:4d:00:03'], [b, '198.19.1.1', '10.77.0.2', '02:00:0a:4d:00:02']] as const) {
      await h.host.apply({ op: 'ensure-fdb', dev: 'tsnx-0000000ov1', mac: remoteMac, dst: remoteVtep });
      await h.host.apply({ op: 'ensure-neigh', dev: 'tsnx-0000000ov1', ip: remoteIp, mac: remoteMac });
      // Appended without a look first: a second append leaves the kernel's list as it was.
      expect(await h.host.apply({ op: 'ensure-flood', dev: 'tsnx-0000000ov1', dst: remoteVtep })).toBe(true);
      expect(await h.host.apply({ op: 'ensure-flood', dev: 'tsnx-0000000ov1', dst: remoteVtep })).toBe(true);
      expect((await h.host.listFdb('tsnx-0000000ov1')).filter((e) => e.mac === '00:00:00:00:00:00')).toEqual([{ mac: '00:00:00:00:00:00', dst: remoteVtep }]);
    }
    expect(await ping()).toBe(true);
    expect(await a.host.listFdb('tsnx-0000000ov1')).toEqual(expect.arrayContaining([
      { mac: '02:00:0a:4d:00:03', dst: '198.19.1.2' }, { mac: '00:00:00:00:00:00', dst: '198.19.1.2' },
    ]));
    expect(await a.host.listNeigh('tsnx-0000000ov1')).toEqual([{ ip: '10.77.0.3', mac: '02:00:0a:4d:00:03' }]);
    const link = JSON.parse(await sh(['ip', '-n', a.ns, '-json', '-details', 'link', 'show', 'tsnx-0000000ov1']))[0];
    expect(link.linkinfo.info_data).toMatchObject({ id: 4242, port: 4789, learning: false, proxy: true, local: '198.19.1.1' });
    expect(link.mtu).toBe(1450);
    for (const op of [
      { op: 'remove-fdb', dev: 'tsnx-0000000ov1', mac: '02:00:0a:4d:00:03', dst: '198.19.1.2' },
      { op: 'remove-neigh', dev: 'tsnx-0000000ov1', ip: '10.77.0.3' },
      { op: 'remove-flood', dev: 'tsnx-0000000ov1', dst: '198.19.1.2' },
    ] as const) {
      expect(await a.host.apply(op)).toBe(true);
      expect(await a.host.apply(op)).toBe(false);
    }
    expect(await a.host.listFdb('tsnx-0000000ov1')).toEqual([]);
    expect(await ping()).toBe(false);
  });

  test('macvlan layout: two containers of one host reach each other through their macvlan links alone, with no entry programmed', async () => {
    const { a, ca, setup } = await twoHosts('macvlan');
    await setup(a, '198.19.1.1', '10.77.0.4', '02:00:0a:4d:00:04', 2);
    expect(await ca.exec(['busybox', 'ping', '-c', '1', '-W', '2', '10.77.0.4']).then(() => true, () => false)).toBe(true);
    expect(await a.host.listFdb('tsnx-0000000ov1')).toEqual([]);
  });

  test('a VXLAN device that was a bridge port is taken off the bridge when ensured without one (a host changing layout)', async () => {
    const { a } = await twoHosts('bridge');
    expect(await a.host.apply({ op: 'ensure-vxlan', name: 'tsnx-0000000ov1', vni: 4242, local: '198.19.1.1', port: 4789, mtu: 1450 })).toBe(false);
    const link = JSON.parse(await sh(['ip', '-n', a.ns, '-json', 'link', 'show', 'tsnx-0000000ov1']))[0];
    expect(link.master).toBeUndefined();
  });

  test('routeTo finds the underlay source address and MTU', async () => {
    const { a } = await twoHosts();
    expect(await a.host.routeTo('198.19.1.2')).toEqual({ source: '198.19.1.1', dev: 'ul0', mtu: 1500 });
  });
});
