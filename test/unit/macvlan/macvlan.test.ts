import { describe, expect, test } from 'vitest';
import { createMacvlanDriver } from '../../../drivers/macvlan/index.js';
import { linkName } from '../../../src/core/ids.js';
import type { NetworkRecord } from '../../../src/core/model.js';
import { RecordingHostNet } from '../../../src/host/recording.js';
import { EP_1, EP_2, NET_A, NET_B, endpoint, network, silentLog } from '../bridge/fixtures.js';

const probe = (networkId: string) => linkName('m', `probe:${networkId}`);

async function setup() {
  const host = new RecordingHostNet();
  await host.apply({ op: 'ensure-bridge', name: 'eth0', mtu: 1500 }); // the host's uplink, as far as the fake can tell
  host.clearLog();
  const driver = createMacvlanDriver({ host, log: silentLog });
  const plan = (options: Record<string, string>, overrides: Partial<NetworkRecord> = {}, others: NetworkRecord[] = []): NetworkRecord => {
    const draft = network({ type: 'macvlan', options, ...overrides });
    return { ...draft, driverState: driver.planNetwork(draft, others) };
  };
  /** Plans and creates a network the way the service does (planned state, then learned facts). */
  const create = async (options: Record<string, string>, overrides: Partial<NetworkRecord> = {}) => {
    const planned = plan(options, overrides);
    return { ...planned, driverState: { ...planned.driverState, ...(await driver.createNetwork(planned)) } };
  };
  return { host, driver, plan, create };
}

describe('macvlan driver', () => {
  test('parent and mode, with Docker\'s option names; an endpoint is one macvlan link with its MAC; Join hands it over with the gateway', async () => {
    const { host, driver, create } = await setup();
    const net = await create({ parent: 'eth0', macvlan_mode: 'vepa' });
    expect(net.driverState).toMatchObject({ parent: 'eth0', mode: 'vepa', privateParent: false, createdParent: false });
    // The kernel is asked for one macvlan link, removed at once, before the network counts as made.
    expect(host.dump()).toBe([`apply ensure-macvlan name=${probe(NET_A)} parent=eth0 mode=vepa mac=02:70:00:00:00:01`, `apply remove-link name=${probe(NET_A)}`].join('\n'));
    host.clearLog();
    const ep = endpoint();
    await driver.createEndpoint(net, ep);
    const link = linkName('m', EP_1);
    expect(host.dump()).toBe(`apply ensure-macvlan name=${link} parent=eth0 mode=vepa mac=02:74:0a:63:00:02`);
    expect(await driver.join(net, ep, '/x')).toEqual({ srcName: link, dstPrefix: 'eth', gateway: '10.99.0.1', gatewayV6: undefined, staticRoutes: [], disableGatewayService: false });
    expect(driver.ownedLinks({ network: net, endpoints: [ep] })).toEqual([link]);
    await driver.deleteEndpoint(net, ep);
    await driver.deleteNetwork(net);
    expect(await host.getLink(link)).toBeUndefined();
    expect(await host.getLink('eth0')).toBeDefined(); // the user's parent is never removed
  });

  test('the default mode is bridge; no gateway (Docker 28+ without --gateway) means no default route and no docker_gwbridge', async () => {
    const { driver, create } = await setup();
    const net = await create({ parent: 'eth0' }, { ipv4: [{ addressSpace: 'x', pool: '10.99.0.0/24', auxAddresses: {} }] });
    expect(net.driverState).toMatchObject({ mode: 'bridge' });
    expect(await driver.join(net, endpoint(), '/x')).toMatchObject({ gateway: undefined, disableGatewayService: true });
    expect(driver.gatewayNeeds?.({ options: { parent: 'eth0' }, internal: false })).toEqual({ ipv4: false, ipv6: false });
  });

  test('no parent: a private link of tsnet\'s own, made with the network and removed with it', async () => {
    const { host, driver, create } = await setup();
    const net = await create({});
    const parent = linkName('d', NET_A);
    expect(net.driverState).toMatchObject({ parent, privateParent: true, createdParent: true });
    expect(host.dump()).toBe([`apply ensure-bridge name=${parent} mtu=1500`, `apply ensure-up dev=${parent}`, `apply ensure-macvlan name=${probe(NET_A)} parent=${parent} mode=bridge mac=02:70:00:00:00:01`, `apply remove-link name=${probe(NET_A)}`].join('\n'));
    expect(driver.ownedLinks({ network: net, endpoints: [] })).toEqual([parent]);
    await driver.deleteNetwork(net);
    expect(await host.getLink(parent)).toBeUndefined();
  });

  test('--internal: the private link, no gateway even when Docker reserved one; with a parent it is refused', async () => {
    const { driver, create, plan } = await setup();
    const net = await create({}, { internal: true });
    expect(await driver.join(net, endpoint(), '/x')).toMatchObject({ gateway: undefined, disableGatewayService: true });
    expect(() => plan({ parent: 'eth0' }, { internal: true })).toThrow(expect.objectContaining({ message: expect.stringMatching(/an --internal macvlan network has no parent/), hint: 'leave -o parent=eth0 out, or drop --internal' }));
  });

  test('parent=IFACE.VLAN: the 802.1Q sub-interface is made when missing and removed with the network; one the user made is kept', async () => {
    const { host, driver, create } = await setup();
    const net = await create({ parent: 'eth0.42' });
    expect(net.driverState).toMatchObject({ parent: 'eth0.42', vlan: { base: 'eth0', id: 42 }, createdParent: true });
    expect(host.dump()).toBe(['apply ensure-vlan name=eth0.42 parent=eth0 vlanId=42', 'apply ensure-up dev=eth0.42', `apply ensure-macvlan name=${probe(NET_A)} parent=eth0.42 mode=bridge mac=02:70:00:00:00:01`, `apply remove-link name=${probe(NET_A)}`].join('\n'));
    await driver.deleteNetwork(net);
    expect(await host.getLink('eth0.42')).toBeUndefined();
    await host.apply({ op: 'ensure-vlan', name: 'eth0.43', parent: 'eth0', vlanId: 43 });
    const users = await create({ parent: 'eth0.43' }, { id: NET_B });
    expect(users.driverState).toMatchObject({ createdParent: false });
    await driver.deleteNetwork(users);
    expect(await host.getLink('eth0.43')).toBeDefined();
  });

  test('bad input is refused naming the option, before anything is made', async () => {
    const { host, plan, create } = await setup();
    expect(() => plan({ parent: 'eth0', macvlan_mode: 'bridged' })).toThrow(expect.objectContaining({ message: 'network option "macvlan_mode": "bridged" is not a macvlan mode', hint: 'use one of bridge, private, vepa, passthru, e.g. -o macvlan_mode=bridge' }));
    expect(() => plan({ parent: 'eth0.0' })).toThrow(/network option "parent": "eth0.0" names VLAN 0, which is not a VLAN id/);
    expect(() => plan({ parent: 'eth0.4095' })).toThrow(/names VLAN 4095/);
    expect(() => plan({ parent: 'a-very-long-interface-name' })).toThrow(/network option "parent": "a-very-long-interface-name" is 26 bytes long/);
    expect(() => plan({ parent: linkName('b', NET_B) })).toThrow(/is an interface tsnet made for another network or container/);
    expect(() => plan({ parent: 'eth0', mtu: '1400' })).toThrow(/the macvlan driver does not know network option "mtu"/);
    await expect(create({ parent: 'nosuch0' })).rejects.toThrow(/network option "parent": interface nosuch0 does not exist on this host/);
    await expect(create({ parent: 'nosuch0.7' })).rejects.toThrow(/interface nosuch0 \(the link of VLAN 7\) does not exist/);
    await expect(create({ parent: 'eth0.abc' })).rejects.toThrow(/interface eth0\.abc does not exist/);
    expect(host.dump()).toBe('');
  });

  test('two networks may not share a parent: the error names the network that holds it', async () => {
    const { plan } = await setup();
    const first = plan({ parent: 'eth0' });
    expect(() => plan({ parent: 'eth0', macvlan_mode: 'passthru' }, { id: NET_B }, [first])).toThrow(/parent interface eth0 is already used by tsnet network aaaaaaaaaaaa/);
    expect(() => plan({ parent: 'eth0.42' }, { id: NET_B }, [first])).not.toThrow();
  });

  test('a kernel without the module refuses the network, and the VLAN parent made for it goes again', async () => {
    const { host, create } = await setup();
    host.failOn = (op) => op.op === 'ensure-macvlan';
    await expect(create({ parent: 'eth0.42' })).rejects.toMatchObject({ code: 'TSNET_HOST_APPLY' });
    host.failOn = undefined;
    expect(await host.getLink('eth0.42')).toBeUndefined();
  });

  test('a failure while making the VLAN parent leaves nothing behind', async () => {
    const { host, create } = await setup();
    host.failOn = (op) => op.op === 'ensure-up';
    await expect(create({ parent: 'eth0.42' })).rejects.toMatchObject({ code: 'TSNET_HOST_APPLY' });
    host.failOn = undefined;
    expect(await host.getLink('eth0.42')).toBeUndefined();
  });

  test('start-up rebuilds the private parent and an unjoined endpoint\'s link, leaves a joined one to Docker, and never touches the user\'s parent', async () => {
    const { host, driver, create } = await setup();
    const own = await create({});
    const parent = linkName('d', NET_A);
    // A record of an older tsnet, written before createdParent was stored: its private parent is still tsnet's.
    const older = { ...own, driverState: { ...own.driverState, createdParent: undefined } };
    const waiting = endpoint();
    const joined = endpoint({ id: EP_2, sandboxKey: '/var/run/docker/netns/x' });
    await driver.createEndpoint(older, waiting);
    await driver.createEndpoint(older, joined);
    expect(driver.ownedLinks({ network: older, endpoints: [waiting, joined] })).toEqual([parent, linkName('m', EP_1), linkName('m', EP_2)]);
    await host.apply({ op: 'remove-link', name: parent }); // a reboot: the parent and every link on it are gone
    host.clearLog();
    await driver.reconcile({ network: older, endpoints: [waiting, joined] });
    expect(host.dump()).toBe([
      `apply ensure-bridge name=${parent} mtu=1500`, `apply ensure-up dev=${parent}`,
      `apply ensure-macvlan name=${linkName('m', EP_1)} parent=${parent} mode=bridge mac=02:74:0a:63:00:02`,
    ].join('\n'));

    const user = await setup();
    const onEth0 = await user.create({ parent: 'eth0' });
    user.host.clearLog();
    await user.driver.reconcile({ network: onEth0, endpoints: [] });
    await user.driver.deleteNetwork(onEth0);
    expect(user.host.dump()).toBe('');
  });
});
