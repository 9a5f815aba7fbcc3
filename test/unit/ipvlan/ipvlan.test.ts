import { describe, expect, test } from 'vitest';
import { createIpvlanDriver } from '../../../drivers/ipvlan/index.js';
import { linkName } from '../../../src/core/ids.js';
import type { NetworkRecord } from '../../../src/core/model.js';
import { RecordingHostNet } from '../../../src/host/recording.js';
import { EP_1, NET_A, NET_B, endpoint, network, silentLog } from '../bridge/fixtures.js';

const probe = linkName('i', `probe:${NET_A}`);

async function setup() {
  const host = new RecordingHostNet();
  await host.apply({ op: 'ensure-bridge', name: 'eth0', mtu: 1500 }); // stands in for the uplink
  host.clearLog();
  const driver = createIpvlanDriver({ host, log: silentLog });
  const plan = (options: Record<string, string>, overrides: Partial<NetworkRecord> = {}, others: NetworkRecord[] = []): NetworkRecord => {
    const draft = network({ type: 'ipvlan', options, ...overrides });
    return { ...draft, driverState: driver.planNetwork(draft, others) };
  };
  const create = async (options: Record<string, string>, overrides: Partial<NetworkRecord> = {}) => {
    const planned = plan(options, overrides);
    return { ...planned, driverState: { ...planned.driverState, ...(await driver.createNetwork(planned)) } };
  };
  return { host, driver, plan, create };
}

describe('ipvlan driver', () => {
  test('l2 (the default) with the bridge flag: one ipvlan link per endpoint, the gateway in Join, like macvlan', async () => {
    const { host, driver, create } = await setup();
    const net = await create({ parent: 'eth0' });
    expect(net.driverState).toMatchObject({ parent: 'eth0', mode: { mode: 'l2', flag: 'bridge' } });
    expect(host.dump()).toBe([`apply ensure-ipvlan name=${probe} parent=eth0 mode=l2`, `apply remove-link name=${probe}`].join('\n'));
    host.clearLog();
    await driver.createEndpoint(net, endpoint());
    const link = linkName('i', EP_1);
    expect(host.dump()).toBe(`apply ensure-ipvlan name=${link} parent=eth0 mode=l2`);
    expect(await driver.join(net, endpoint(), '/x')).toMatchObject({ srcName: link, gateway: '10.99.0.1', staticRoutes: [], disableGatewayService: false });
  });

  test('l3 and l3s: on-link default routes per family and no gateway, even when Docker reserved one; the flag reaches the kernel', async () => {
    const { host, driver, create } = await setup();
    const l3 = await create({ parent: 'eth0', ipvlan_mode: 'l3', ipvlan_flag: 'private' }, { ipv6: [{ addressSpace: 'x', pool: 'fd00:99::/64', gateway: 'fd00:99::1/64', auxAddresses: {} }] });
    host.clearLog();
    await driver.createEndpoint(l3, endpoint());
    expect(host.dump()).toBe(`apply ensure-ipvlan name=${linkName('i', EP_1)} parent=eth0 mode=l3 flag=private`);
    expect(await driver.join(l3, endpoint(), '/x')).toEqual({
      srcName: linkName('i', EP_1), dstPrefix: 'eth', disableGatewayService: true,
      staticRoutes: [{ destination: '0.0.0.0/0', routeType: 1 }, { destination: '::/0', routeType: 1 }],
    });
    const l3s = await create({ parent: 'eth0.7', ipvlan_mode: 'l3s' }, { id: NET_B });
    expect(await driver.join(l3s, endpoint(), '/x')).toMatchObject({ staticRoutes: [{ destination: '0.0.0.0/0', routeType: 1 }], disableGatewayService: true });
  });

  test('--internal l3: no routes at all', async () => {
    const { driver, create } = await setup();
    const net = await create({ ipvlan_mode: 'l3' }, { internal: true });
    expect(await driver.join(net, endpoint(), '/x')).toMatchObject({ staticRoutes: [], disableGatewayService: true });
  });

  test('a kernel without ipvlan refuses the network when it is created, and leaves nothing (not even the VLAN parent)', async () => {
    const { host, create } = await setup();
    host.failOn = (op) => op.op === 'ensure-ipvlan';
    await expect(create({ parent: 'eth0.42' })).rejects.toMatchObject({ code: 'TSNET_HOST_APPLY' });
    host.failOn = undefined;
    expect((await host.listLinks()).map((l) => l.name)).toEqual(['eth0']);
  });

  test('bad input is refused naming the option; parents are shared with macvlan\'s rules', async () => {
    const { plan } = await setup();
    expect(() => plan({ parent: 'eth0', ipvlan_mode: 'l4' })).toThrow(expect.objectContaining({ message: 'network option "ipvlan_mode": "l4" is not an ipvlan mode', hint: 'use one of l2, l3, l3s, e.g. -o ipvlan_mode=l2' }));
    expect(() => plan({ parent: 'eth0', ipvlan_flag: 'passthru' })).toThrow(/network option "ipvlan_flag": "passthru" is not an ipvlan flag/);
    expect(() => plan({ parent: 'eth0', macvlan_mode: 'bridge' })).toThrow(/the ipvlan driver does not know network option "macvlan_mode"/);
    expect(() => plan({ parent: 'eth0.4095' })).toThrow(/names VLAN 4095/);
    const macvlanHolder: NetworkRecord = { ...network({ type: 'macvlan' }), driverState: { parent: 'eth0' } };
    expect(() => plan({ parent: 'eth0' }, { id: NET_B }, [macvlanHolder])).toThrow(/parent interface eth0 is already used by tsnet network aaaaaaaaaaaa/);
  });
});
