import { describe, expect, test } from 'vitest';
import { linkJson, sh, withTestNetns } from './netns-fixture.js';

describe('Iproute2HostNet against a real kernel', () => {
  test('ensure-bridge, ensure-addr and ensure-up are idempotent', async () => {
    const { ns, host } = await withTestNetns();
    const bridge = { op: 'ensure-bridge', name: 'tsnb-0000000001', mtu: 1400 } as const;
    expect(await host.apply(bridge)).toBe(true);
    expect(await host.apply(bridge)).toBe(false);
    expect(await host.apply({ op: 'ensure-addr', dev: bridge.name, cidr: '10.77.0.1/24' })).toBe(true);
    expect(await host.apply({ op: 'ensure-addr', dev: bridge.name, cidr: '10.77.0.1/24' })).toBe(false);
    expect(await host.apply({ op: 'ensure-up', dev: bridge.name })).toBe(true);
    expect(await host.apply({ op: 'ensure-up', dev: bridge.name })).toBe(false);
    const link = await linkJson(ns, bridge.name);
    expect(link).toMatchObject({ mtu: 1400, linkinfo: { info_kind: 'bridge' } });
    expect(await host.listAddrs(bridge.name)).toEqual(['10.77.0.1/24']);
  });

  test('ensure-bridge refuses a name held by a device that is not a bridge', async () => {
    const { ns, host } = await withTestNetns();
    await sh(['ip', '-n', ns, 'link', 'add', 'name', 'notabr', 'type', 'veth', 'peer', 'name', 'notabr-p']);
    await expect(host.apply({ op: 'ensure-bridge', name: 'notabr', mtu: 1500 })).rejects.toThrow(/exists and is a veth, not a bridge/);
  });

  test('ensure-veth creates the pair enslaved and up, with the peer MAC, in one step', async () => {
    const { ns, host } = await withTestNetns();
    await host.apply({ op: 'ensure-bridge', name: 'tsnb-0000000002', mtu: 1500 });
    const veth = { op: 'ensure-veth', host: 'tsnv-0000000002', peer: 'tsnp-0000000002', master: 'tsnb-0000000002', mtu: 1450, peerMac: '02:74:0a:00:00:09' } as const;
    expect(await host.apply(veth)).toBe(true);
    expect(await host.apply(veth)).toBe(false);
    expect(await linkJson(ns, veth.host)).toMatchObject({ master: veth.master, mtu: 1450 });
    expect((await linkJson(ns, veth.host)).flags).toContain('UP');
    expect(await linkJson(ns, veth.peer)).toMatchObject({ address: veth.peerMac, mtu: 1450 });
    // The bridge is deleted and recreated: the surviving pair is re-attached.
    await sh(['ip', '-n', ns, 'link', 'del', 'tsnb-0000000002']);
    await host.apply({ op: 'ensure-bridge', name: 'tsnb-0000000002', mtu: 1500 });
    expect(await host.apply(veth)).toBe(true);
    expect(await linkJson(ns, veth.host)).toMatchObject({ master: veth.master });
    expect(await host.apply({ op: 'remove-link', name: veth.host })).toBe(true);
    expect(await host.apply({ op: 'remove-link', name: veth.host })).toBe(false);
    expect(await host.getLink(veth.peer)).toBeUndefined();
  });

  test('undo reverses what apply did', async () => {
    const { host } = await withTestNetns();
    const bridge = { op: 'ensure-bridge', name: 'tsnb-0000000003', mtu: 1500 } as const;
    await host.apply(bridge);
    await host.apply({ op: 'ensure-addr', dev: bridge.name, cidr: '10.78.0.1/24' });
    await host.undo({ op: 'ensure-addr', dev: bridge.name, cidr: '10.78.0.1/24' });
    expect(await host.listAddrs(bridge.name)).toEqual([]);
    await host.undo(bridge);
    expect(await host.getLink(bridge.name)).toBeUndefined();
  });

  test('macvlan on a veth parent works; what this kernel lacks fails with a clear message', async () => {
    const { ns, host } = await withTestNetns();
    await sh(['ip', '-n', ns, 'link', 'add', 'name', 'parent0', 'type', 'veth', 'peer', 'name', 'parent1']);
    expect(await host.apply({ op: 'ensure-macvlan', name: 'tsnm-0000000004', parent: 'parent0', mode: 'bridge' })).toBe(true);
    expect((await linkJson(ns, 'tsnm-0000000004')).linkinfo?.info_kind).toBe('macvlan');
    const ipvlan = host.apply({ op: 'ensure-ipvlan', name: 'tsni-0000000004', parent: 'parent0', mode: 'l2' });
    const supported = await ipvlan.then(() => true, (err: Error) => {
      expect(err.message).toMatch(/this kernel cannot create ipvlan interfaces/);
      return false;
    });
    if (!supported) console.info('ipvlan: this kernel has no ipvlan support; checked the error message instead');
  });

  test('sysctls are set inside the namespace only', async () => {
    const { ns, host } = await withTestNetns();
    await host.apply({ op: 'ensure-sysctl', key: 'net/ipv4/ip_forward', value: '1' });
    expect((await sh(['ip', 'netns', 'exec', ns, 'sysctl', '-n', 'net.ipv4.ip_forward'])).trim()).toBe('1');
  });
});
