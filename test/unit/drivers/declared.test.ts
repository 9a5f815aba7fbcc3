import { describe, expect, test } from 'vitest';
import { z } from 'zod';
import { declaredDriver, linksOf, removalOps, type KernelObjects } from '../../../drivers/declared.js';
import type { EndpointRecord, NetworkRecord } from '../../../src/core/model.js';
import type { HostOp } from '../../../src/host/hostnet.js';
import { RecordingHostNet } from '../../../src/host/recording.js';
import { stateCodec } from '../../../drivers/state.js';
import { EP_1, EP_2, endpoint, network, silentLog } from '../bridge/fixtures.js';

/** A type made of declarations only: a bridge with an address, a veth per endpoint, a probe link. */
const toyState = z.object({ dev: z.string(), kept: z.boolean().default(false), restore: z.array(z.object({ op: z.literal('ensure-down'), dev: z.string() })).default([]) });
type Toy = z.output<typeof toyState>;

function setup(learned: Partial<Toy> = {}) {
  const host = new RecordingHostNet();
  const driver = declaredDriver<Toy>({
    type: 'bridge',
    state: stateCodec('bridge', toyState),
    plan: () => ({ dev: 'tsnb-toy', kept: false, restore: [] }),
    learn: async () => learned,
    network: (_n, s): KernelObjects => ({
      ops: [{ op: 'ensure-bridge', name: s.dev, mtu: 1500 }, { op: 'ensure-addr', dev: s.dev, cidr: '10.99.0.1/24' }, { op: 'ensure-up', dev: s.dev }],
      kept: s.kept ? [s.dev] : [],
      restore: s.restore,
    }),
    probe: () => ({ op: 'ensure-macvlan', name: 'tsnm-probe', parent: 'tsnb-toy', mode: 'bridge' }),
    endpoint: (_n, s, e) => ({ ops: [{ op: 'ensure-veth', host: `tsnv-${e.id.slice(-1)}`, peer: `tsnp-${e.id.slice(-1)}`, master: s.dev, mtu: 1500 }] }),
    join: (_n, _s, e) => ({ srcName: `tsnp-${e.id.slice(-1)}`, dstPrefix: 'eth', staticRoutes: [], disableGatewayService: false }),
  }, { host, log: silentLog });
  const create = async (): Promise<NetworkRecord> => {
    const draft = network();
    const planned = { ...draft, driverState: driver.planNetwork(draft, []) };
    return { ...planned, driverState: { ...planned.driverState, ...(await driver.createNetwork(planned)) } };
  };
  return { host, driver, create };
}

async function kernel(host: RecordingHostNet): Promise<string> {
  const links = await host.listLinks();
  const lines = await Promise.all(links.map(async (l) => `${l.name} up=${l.up} addrs=${(await host.listAddrs(l.name)).join(',')}`));
  return lines.sort().join('\n');
}

describe('a declared type', () => {
  test('its network objects are made in order with the probe made and removed after them; removal takes back only the links it made', async () => {
    const { host, driver, create } = setup();
    const net = await create();
    expect(host.dump()).toBe([
      'apply ensure-bridge name=tsnb-toy mtu=1500', 'apply ensure-addr dev=tsnb-toy cidr=10.99.0.1/24', 'apply ensure-up dev=tsnb-toy',
      'apply ensure-macvlan name=tsnm-probe parent=tsnb-toy mode=bridge', 'apply remove-link name=tsnm-probe',
    ].join('\n'));
    host.clearLog();
    await driver.deleteNetwork(net);
    expect(host.dump()).toBe('apply remove-link name=tsnb-toy');
    expect(await kernel(host)).toBe('');
  });

  test('a step that fails, wherever it is, leaves the kernel as it was (the probe included)', async () => {
    const ops = ['ensure-bridge', 'ensure-addr', 'ensure-up', 'ensure-macvlan'];
    for (const failing of ops) {
      const { host, create } = setup();
      host.addExistingLink('eth0');
      const before = await kernel(host);
      host.failOn = (op) => op.op === failing;
      await expect(create(), failing).rejects.toMatchObject({ code: 'TSNET_HOST_APPLY' });
      expect(await kernel(host), failing).toBe(before);
    }
  });

  test('a kept link (the user\'s) is never removed: a failed creation and the removal both run its restore', async () => {
    const restore = [{ op: 'ensure-down' as const, dev: 'tsnb-toy' }];
    const { host, driver, create } = setup({ kept: true, restore });
    host.addExistingLink('tsnb-toy', 'bridge');
    const net = await create();
    host.clearLog();
    await driver.deleteNetwork(net);
    expect(host.dump()).toBe('apply ensure-down dev=tsnb-toy');
    expect(await host.getLink('tsnb-toy')).toBeDefined();

    const again = setup({ kept: true, restore });
    again.host.addExistingLink('tsnb-toy', 'bridge');
    again.host.failOn = (op) => op.op === 'ensure-macvlan';
    await expect(again.create()).rejects.toThrow(/could not create macvlan/);
    expect(again.host.dump()).toMatch(/apply ensure-down dev=tsnb-toy$/);
    expect(await again.host.getLink('tsnb-toy')).toBeDefined();
  });

  test('endpoints: made, removed by their host end, and every link of the network counted as owned', async () => {
    const { host, driver, create } = setup();
    const net = await create();
    const [a, b] = [endpoint({ id: EP_1 }), endpoint({ id: EP_2 })];
    await driver.createEndpoint(net, a);
    await driver.createEndpoint(net, b);
    expect(driver.ownedLinks({ network: net, endpoints: [a, b] })).toEqual(['tsnb-toy', 'tsnv-1', 'tsnp-1', 'tsnv-2', 'tsnp-2']);
    host.clearLog();
    await driver.deleteEndpoint(net, a);
    expect(host.dump()).toBe('apply remove-link name=tsnv-1');
    expect(await host.getLink('tsnp-1')).toBeUndefined();
  });

  test('start-up rebuilds what the kernel lacks, leaves what it has, and skips a joined endpoint whose link is gone with its container', async () => {
    const { host, driver, create } = setup();
    const net = await create();
    const standing = endpoint({ id: EP_1 });
    const joinedGone: EndpointRecord = endpoint({ id: EP_2, sandboxKey: '/var/run/docker/netns/x' });
    await driver.createEndpoint(net, standing);
    await driver.createEndpoint(net, joinedGone);
    // The kernel lost the bridge's address and the first pair (a reboot keeps neither); the joined container's pair went with its namespace.
    await host.apply({ op: 'remove-addr', dev: 'tsnb-toy', cidr: '10.99.0.1/24' });
    await host.apply({ op: 'remove-link', name: 'tsnv-1' });
    await host.apply({ op: 'remove-link', name: 'tsnv-2' });
    host.clearLog();
    await driver.reconcile({ network: net, endpoints: [standing, joinedGone] });
    expect(host.dump()).toBe([
      'noop  ensure-bridge name=tsnb-toy mtu=1500', 'apply ensure-addr dev=tsnb-toy cidr=10.99.0.1/24', 'noop  ensure-up dev=tsnb-toy',
      'apply ensure-veth host=tsnv-1 peer=tsnp-1 master=tsnb-toy mtu=1500',
    ].join('\n'));
  });

  test('removalOps and linksOf: made links last first, veth by its host end, kept ones restored instead', () => {
    const ops: HostOp[] = [
      { op: 'ensure-vlan', name: 'eth0.10', parent: 'eth0', vlanId: 10 },
      { op: 'ensure-bridge', name: 'br', mtu: 1500 },
      { op: 'ensure-veth', host: 'h', peer: 'p', master: 'br', mtu: 1500 },
      { op: 'ensure-sysctl', key: 'net/ipv4/ip_forward', value: '1' },
    ];
    expect(linksOf({ ops })).toEqual(['eth0.10', 'br', 'h', 'p']);
    expect(removalOps({ ops }).map((o) => o.op === 'remove-link' && o.name)).toEqual(['h', 'br', 'eth0.10']);
    expect(removalOps({ ops, kept: ['br'], restore: [{ op: 'ensure-down', dev: 'br' }] })).toEqual([
      { op: 'remove-link', name: 'h' }, { op: 'remove-link', name: 'eth0.10' }, { op: 'ensure-down', dev: 'br' },
    ]);
  });
});
