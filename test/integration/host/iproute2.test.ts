import { describe, expect, test } from 'vitest';
import { TsnetError } from '../../../src/core/errors.js';
import { inverseOf, type HostNet, type HostOp } from '../../../src/host/hostnet.js';
import { Iproute2HostNet } from '../../../src/host/iproute2.js';
import type { Runner } from '../../../src/host/runner.js';
import { run } from '../../support/exec.js';
import { linkJson, runner, sh, withTestNetns } from './netns-fixture.js';

/**
 * Asks the kernel itself (plain iproute2) whether it can create a sub-interface of this kind
 * under `parent`. Returns undefined when it can (the probe link is removed again), or the
 * kernel's refusal when the kind is missing. Any other failure is a broken test set-up, so it
 * throws rather than letting the test take the "unsupported" branch.
 */
async function kernelLacks(ns: string, parent: string, typeArgs: readonly string[]): Promise<string | undefined> {
  const probe = 'tsnprobe0';
  const added = await run(['ip', '-n', ns, 'link', 'add', 'link', parent, 'name', probe, ...typeArgs], { allowFail: true });
  if (added.code === 0) {
    await sh(['ip', '-n', ns, 'link', 'del', 'dev', probe]);
    return undefined;
  }
  const said = added.stderr.trim();
  if (/Unknown device type|Operation not supported/.test(said)) return said;
  throw new Error(`probing the kernel for ${typeArgs.join(' ')} failed for another reason: ${said}`);
}

/** What a rollback does with an op that changed something: apply its inverses. */
async function undo(host: HostNet, op: HostOp): Promise<void> {
  for (const inverse of inverseOf(op)) await host.apply(inverse);
}

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

  test('the inverse ops reverse what apply did', async () => {
    const { host } = await withTestNetns();
    const bridge = { op: 'ensure-bridge', name: 'tsnb-0000000003', mtu: 1500 } as const;
    await host.apply(bridge);
    await host.apply({ op: 'ensure-addr', dev: bridge.name, cidr: '10.78.0.1/24' });
    await undo(host, { op: 'ensure-addr', dev: bridge.name, cidr: '10.78.0.1/24' });
    expect(await host.listAddrs(bridge.name)).toEqual([]);
    await undo(host, bridge);
    expect(await host.getLink(bridge.name)).toBeUndefined();
  });

  // One case per sub-interface kind. The kernel is asked directly first (plain `ip link add`,
  // not tsnet), so whether the kind exists is known independently of the code under test: a
  // kernel that has it must get the real link from tsnet, one that lacks it must get tsnet's
  // TSNET_KERNEL_UNSUPPORTED naming the module to load, and nothing left behind either way.
  const subInterfaces = [
    {
      kind: 'macvlan', module: 'macvlan', probe: ['type', 'macvlan', 'mode', 'bridge'],
      op: { op: 'ensure-macvlan', name: 'tsnm-0000000004', parent: 'parent0', mode: 'private', mtu: 1400, mac: '02:74:0a:00:00:04' },
      expected: { mtu: 1400, address: '02:74:0a:00:00:04', linkinfo: { info_kind: 'macvlan', info_data: { mode: 'private' } } },
    },
    {
      kind: 'ipvlan', module: 'ipvlan', probe: ['type', 'ipvlan', 'mode', 'l2'],
      op: { op: 'ensure-ipvlan', name: 'tsni-0000000004', parent: 'parent0', mode: 'l3', mtu: 1400 },
      expected: { mtu: 1400, linkinfo: { info_kind: 'ipvlan', info_data: { mode: 'l3' } } },
    },
    {
      kind: 'vlan', module: '8021q', probe: ['type', 'vlan', 'id', '4094'],
      op: { op: 'ensure-vlan', name: 'tsnq-0000000004', parent: 'parent0', vlanId: 42 },
      expected: { linkinfo: { info_kind: 'vlan', info_data: { protocol: '802.1Q', id: 42 } } },
    },
  ] as const;

  for (const { kind, module, probe, op, expected } of subInterfaces) {
    test(`${kind} on a veth parent: the real link when the kernel has ${kind}, else a clear TSNET_KERNEL_UNSUPPORTED`, async () => {
      const { ns, host } = await withTestNetns();
      await sh(['ip', '-n', ns, 'link', 'add', 'name', 'parent0', 'type', 'veth', 'peer', 'name', 'parent1']);
      const unsupported = await kernelLacks(ns, 'parent0', probe);
      if (unsupported === undefined) {
        expect(await host.apply(op)).toBe(true);
        expect(await host.apply(op)).toBe(false);
        const link = await linkJson(ns, op.name);
        expect(link).toMatchObject({ ifname: op.name, link: 'parent0', ...expected });
        expect((await host.getLink(op.name))?.kind).toBe(kind);
        await undo(host, op);
      } else {
        console.log(`SKIP: ${kind} link not created: this kernel has no ${kind} support (ip link add said "${unsupported}"); checked tsnet's error instead`);
        const err = await host.apply(op).then(() => undefined, (e: unknown) => e);
        expect(err).toBeInstanceOf(TsnetError);
        expect(err).toMatchObject({
          code: 'TSNET_KERNEL_UNSUPPORTED',
          kind: 'unavailable',
          message: `this kernel cannot create ${kind} interfaces (${unsupported})`,
          hint: `load the ${module} kernel module (modprobe ${module}) or use a kernel built with it`,
        });
      }
      // Either way nothing of tsnet's is left: undone after success, never created after refusal.
      expect(await host.getLink(op.name)).toBeUndefined();
      expect((await host.listLinks()).map((l) => l.name).sort()).toEqual(['lo', 'parent0', 'parent1']);
    });
  }

  test('a sub-interface whose name is taken by a link of another kind is refused naming it, and that link is left alone', async () => {
    const { ns, host } = await withTestNetns();
    await sh(['ip', '-n', ns, 'link', 'add', 'name', 'parent0', 'type', 'veth', 'peer', 'name', 'parent1']);
    await sh(['ip', '-n', ns, 'link', 'add', 'name', 'tsnm-0000000005', 'type', 'veth', 'peer', 'name', 'other1']);
    const err = await host.apply({ op: 'ensure-macvlan', name: 'tsnm-0000000005', parent: 'parent0', mode: 'bridge' }).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'TSNET_HOST_LINK_EXISTS', message: 'interface tsnm-0000000005 exists and is a veth, not a macvlan link' });
    expect((await host.getLink('tsnm-0000000005'))?.kind).toBe('veth');
  });

  test('under a link snapshot, links that are as declared cost no program; a link change ends the snapshot', async () => {
    const { ns } = await withTestNetns();
    const programs: string[] = [];
    const counting: Runner = { run: (argv, options) => (programs.push(argv.join(' ')), runner.run(argv, options)) };
    const host = new Iproute2HostNet({ runner: counting, netns: ns });
    const bridge = { op: 'ensure-bridge', name: 'tsnb-0000000009', mtu: 1500 } as const;
    const veth = { op: 'ensure-veth', host: 'tsnv-0000000009', peer: 'tsnp-0000000009', master: bridge.name, mtu: 1500 } as const;
    const macvlan = { op: 'ensure-macvlan', name: 'tsnm-0000000009', parent: bridge.name, mode: 'bridge', mtu: 1500 } as const;
    for (const op of [bridge, { op: 'ensure-up', dev: bridge.name } as const, veth, macvlan]) await host.apply(op);

    programs.length = 0;
    await host.withLinkSnapshot(async () => {
      for (const op of [bridge, { op: 'ensure-up', dev: bridge.name } as const, veth, macvlan]) expect(await host.apply(op)).toBe(false);
      expect(await host.getLink(veth.host)).toMatchObject({ kind: 'veth', master: bridge.name, up: true });
      expect(await host.getLink('tsnv-absent')).toBeUndefined();
    });
    expect(programs).toEqual([`ip -n ${ns} -json -details link show`]);

    // Detached behind tsnet's back before the snapshot: re-attached with one program, since the
    // listing already shows the pair (no add that fails, no query).
    await sh(['ip', '-n', ns, 'link', 'set', veth.host, 'nomaster']);
    programs.length = 0;
    await host.withLinkSnapshot(async () => {
      expect(await host.apply(veth)).toBe(true);
      expect(programs).toEqual([`ip -n ${ns} -json -details link show`, `ip -n ${ns} link set dev ${veth.host} master ${bridge.name} up`]);
      // The repair ended the snapshot: the kernel is asked again.
      programs.length = 0;
      expect(await host.getLink(veth.host)).toMatchObject({ master: bridge.name });
      expect(programs).toEqual([`ip -n ${ns} -json -details link show dev ${veth.host}`]);
      expect(await host.apply({ op: 'remove-link', name: macvlan.name })).toBe(true);
      expect(await host.getLink(macvlan.name)).toBeUndefined();
      expect(await host.apply(macvlan)).toBe(true);
    });
    expect(await linkJson(ns, veth.host)).toMatchObject({ master: bridge.name });
    expect(await linkJson(ns, macvlan.name)).toMatchObject({ linkinfo: { info_kind: 'macvlan' } });
  });

  test('sysctls are set inside the namespace only', async () => {
    const { ns, host } = await withTestNetns();
    await host.apply({ op: 'ensure-sysctl', key: 'net/ipv4/ip_forward', value: '1' });
    expect((await sh(['ip', 'netns', 'exec', ns, 'sysctl', '-n', 'net.ipv4.ip_forward'])).trim()).toBe('1');
  });
});
