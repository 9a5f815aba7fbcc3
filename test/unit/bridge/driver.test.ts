import { describe, expect, test } from 'vitest';
import { createBridgeDriver } from '../../../drivers/bridge/index.js';
import { bridgeMac, linkName } from '../../../src/core/ids.js';
import { RecordingHostNet } from '../../../src/host/recording.js';
import { EP_1, NET_A, NET_B, endpoint, network, silentLog } from './fixtures.js';

function setup() {
  const host = new RecordingHostNet();
  const driver = createBridgeDriver({ host, log: silentLog });
  const plan = (overrides: Parameters<typeof network>[0] = {}, others = [] as ReturnType<typeof network>[]) => {
    const draft = network(overrides);
    return { ...draft, driverState: driver.planNetwork(draft, others) };
  };
  return { host, driver, plan };
}

describe('bridge driver plan', () => {
  test('CreateNetwork makes a bridge with the gateway, up, forwarding on', async () => {
    const { host, driver, plan } = setup();
    const net = plan();
    expect(await driver.createNetwork(net)).toEqual({ adopted: false });
    const bridge = linkName('b', NET_A);
    expect(host.dump()).toBe([
      `apply ensure-bridge name=${bridge} mtu=1500 mac=${bridgeMac(NET_A)}`,
      `apply ensure-addr dev=${bridge} cidr=10.99.0.1/24`,
      `apply ensure-up dev=${bridge}`,
      'apply ensure-sysctl key=net/ipv4/ip_forward value=1',
      `apply ensure-sysctl key=net/ipv4/conf/${bridge}/route_localnet value=1`,
    ].join('\n'));
  });

  test('options: user bridge name and MTU; an existing user bridge is adopted, not deleted', async () => {
    const { host, driver, plan } = setup();
    host.addExistingLink('mybr0', 'bridge', undefined, { up: true, mtu: 1400, addrs: ['10.99.0.1/24'] });
    host.setSysctl('net/ipv4/conf/mybr0/route_localnet', '1');
    const net = plan({ options: { 'com.docker.network.bridge.name': 'mybr0', 'com.docker.network.driver.mtu': '1400' } });
    expect(net.driverState).toMatchObject({ bridge: 'mybr0', mtu: 1400, userNamed: true });
    const learned = await driver.createNetwork(net);
    // Nothing on the bridge needed changing, so nothing is to be put back.
    expect(learned).toEqual({ adopted: true, restoreOps: [] });
    host.clearLog();
    await driver.deleteNetwork({ ...net, driverState: { ...net.driverState, ...learned } });
    expect(host.dump()).toBe('');
    expect(await host.getLink('mybr0')).toMatchObject({ up: true, mtu: 1400 });
  });

  test('an adopted bridge gets back exactly what tsnet changed: address, MTU, link state, route_localnet', async () => {
    const { host, driver, plan } = setup();
    host.addExistingLink('mybr1', 'bridge', undefined, { up: false, mtu: 9000, addrs: ['192.168.50.1/24'] });
    host.setSysctl('net/ipv4/conf/mybr1/route_localnet', '0');
    const net = plan({ options: { 'com.docker.network.bridge.name': 'mybr1' } });
    const learned = await driver.createNetwork(net);
    expect(await host.listAddrs('mybr1')).toEqual(['192.168.50.1/24', '10.99.0.1/24']);
    expect(await host.getLink('mybr1')).toMatchObject({ up: true, mtu: 1500 });
    expect(host.sysctl('net/ipv4/conf/mybr1/route_localnet')).toBe('1');
    await driver.deleteNetwork({ ...net, driverState: { ...net.driverState, ...learned } });
    expect(await host.listAddrs('mybr1')).toEqual(['192.168.50.1/24']);
    expect(await host.getLink('mybr1')).toMatchObject({ up: false, mtu: 9000 });
    expect(bridgeMac(NET_A)).toMatch(/^02:62:[0-9a-f]{2}(:[0-9a-f]{2}){3}$/);
    expect(host.sysctl('net/ipv4/conf/mybr1/route_localnet')).toBe('0');
  });

  test('a failed create on an adopted bridge puts back what it had changed', async () => {
    const { host, driver, plan } = setup();
    host.addExistingLink('mybr2', 'bridge', undefined, { up: false, mtu: 1500 });
    host.failOn = (op) => op.op === 'ensure-sysctl' && op.key.endsWith('route_localnet');
    await expect(driver.createNetwork(plan({ options: { 'com.docker.network.bridge.name': 'mybr2' } }))).rejects.toThrow(/could not set net.ipv4.conf.mybr2.route_localnet to 1: injected failure/);
    expect(await host.listAddrs('mybr2')).toEqual([]);
    expect(await host.getLink('mybr2')).toMatchObject({ up: false });
  });

  test('internal network gets no forwarding sysctls and no gateway in Join', async () => {
    const { host, driver, plan } = setup();
    const net = plan({ internal: true });
    await driver.createNetwork(net);
    expect(host.dump()).not.toContain('ip_forward');
    const ep = endpoint();
    const join = await driver.join(net, ep, '/var/run/docker/netns/x');
    expect(join).toMatchObject({ gateway: undefined, disableGatewayService: true, dstPrefix: 'eth' });
  });

  test.each([
    [{ 'com.docker.network.driver.mtu': 'abc' }, /"com.docker.network.driver.mtu": "abc" is not an integer between 68 and 65535/],
    [{ 'com.docker.network.driver.mtu': '40' }, /between 68 and 65535/],
    [{ 'com.docker.network.bridge.name': 'this-name-is-far-too-long' }, /is 25 bytes long/],
    [{ 'com.docker.network.bridge.enable_icc': 'maybe' }, /is not true or false/],
    [{ mtu: '1400' }, /does not know network option "mtu"/],
    [{ 'com.docker.network.bridge.host_binding_ipv4': '127.0.0.300' }, /"com.docker.network.bridge.host_binding_ipv4": "127.0.0.300" is not an IP address/],
    [{ 'com.docker.network.bridge.host_binding_ipv4': '-j ACCEPT' }, /"com.docker.network.bridge.host_binding_ipv4": "-j ACCEPT" is not an IP address/],
    [{ 'com.docker.network.container_iface_prefix': 'a/b' }, /"com.docker.network.container_iface_prefix": "a\/b" is not a valid Linux interface name/],
    [{ 'com.docker.network.container_iface_prefix': 'thirteen-byte' }, /"com.docker.network.container_iface_prefix": "thirteen-byte" is not a usable interface name prefix/],
    [{ 'com.docker.network.container_iface_prefix': '0eth' }, /is not a usable interface name prefix/],
    [{ 'com.docker.network.bridge.gateway_mode_ipv4': 'bridged' }, /"com.docker.network.bridge.gateway_mode_ipv4": "bridged" is not a gateway mode/],
    [{ 'com.docker.network.bridge.gateway_mode_ipv6': 'isolated' }, /"com.docker.network.bridge.gateway_mode_ipv6": "isolated" needs an internal network/],
    [{ 'com.docker.network.bridge.trusted_host_interfaces': 'eth0:e+' }, /"com.docker.network.bridge.trusted_host_interfaces".*"e\+" cannot be used.*wildcard/],
    [{ 'com.docker.network.bridge.trusted_host_interfaces': 'eth0::eth1' }, /"com.docker.network.bridge.trusted_host_interfaces".*"" is 0 bytes long/],
    [{ 'com.docker.network.bridge.inhibit_ipv4': 'perhaps' }, /"com.docker.network.bridge.inhibit_ipv4": "perhaps" is not true or false/],
    [{ 'com.docker.network.enable_ipv6': 'true' }, /"com.docker.network.enable_ipv6=true" contradicts the network: Docker sent no IPv6 subnet/],
    [{ 'com.docker.network.enable_ipv4': 'false' }, /"com.docker.network.enable_ipv4=false" contradicts the network: Docker sent an IPv4 subnet/],
  ])('bad option %j is refused before anything happens', (options, message) => {
    const { host, plan } = setup();
    expect(() => plan({ options })).toThrow(message);
    expect(host.dump()).toBe('');
  });

  test('Docker\'s bridge options: interface prefix in Join, inhibit_ipv4 and isolated leave the bridge without a gateway address', async () => {
    const { host, driver, plan } = setup();
    const net = plan({ options: { 'com.docker.network.container_iface_prefix': 'app', 'com.docker.network.bridge.inhibit_ipv4': 'true', 'com.docker.network.enable_ipv4': 'true' } });
    await driver.createNetwork(net);
    expect(host.dump()).not.toContain('10.99.0.1/24');
    const ep = endpoint();
    expect(await driver.join(net, ep, '/var/run/docker/netns/x')).toMatchObject({ dstPrefix: 'app', gateway: '10.99.0.1' });
    const isolated = setup();
    const internal = isolated.plan({ internal: true, options: { 'com.docker.network.bridge.gateway_mode_ipv4': 'isolated' } });
    await isolated.driver.createNetwork(internal);
    expect(isolated.host.dump()).not.toContain('10.99.0.1/24');
    const plain = setup();
    await plain.driver.createNetwork(plain.plan({ internal: true }));
    expect(plain.host.dump()).toContain('10.99.0.1/24');
  });

  test('host_binding_ipv4 is the host IP of ports published without one; 0.0.0.0 means every address', () => {
    const { driver, plan } = setup();
    expect(driver.defaultHostIp?.(plan({ options: { 'com.docker.network.bridge.host_binding_ipv4': '127.0.0.1' } }))).toBe('127.0.0.1');
    expect(driver.defaultHostIp?.(plan({ options: { 'com.docker.network.bridge.host_binding_ipv4': '::1' } }))).toBe('::1');
    expect(driver.defaultHostIp?.(plan({ options: { 'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0' } }))).toBeUndefined();
    expect(driver.defaultHostIp?.(plan())).toBeUndefined();
  });

  test('records of an older tsnet, without the later options, read back with Docker\'s defaults', async () => {
    const { driver } = setup();
    const old = network({ driverState: { bridge: 'tsbr9', userNamed: true, mtu: 1500, icc: true, masquerade: true } });
    const ep = endpoint();
    expect(await driver.join(old, ep, '/x')).toMatchObject({ dstPrefix: 'eth', gateway: '10.99.0.1' });
  });

  test('a user-named bridge that tsnet makes gets the fixed MAC too; the user\'s own bridge keeps its MAC', async () => {
    const made = setup();
    await made.driver.createNetwork(made.plan({ options: { 'com.docker.network.bridge.name': 'brx0' } }));
    expect((await made.host.getLink('brx0'))?.mac).toBe(bridgeMac(NET_A));
    const own = setup();
    await own.host.apply({ op: 'ensure-bridge', name: 'brx0', mtu: 1500, mac: '02:00:00:00:00:99' });
    const planned = own.plan({ options: { 'com.docker.network.bridge.name': 'brx0' } });
    const learned = await own.driver.createNetwork(planned);
    expect(learned).toMatchObject({ adopted: true, pinnedMac: '02:00:00:00:00:99' });
    expect(own.host.dump()).toContain('ensure-mac dev=brx0 mac=02:00:00:00:00:99');
    expect((await own.host.getLink('brx0'))?.mac).toBe('02:00:00:00:00:99');
    // The pin is part of the network's objects, so start-up keeps it too.
    own.host.clearLog();
    await own.driver.reconcile({ network: { ...planned, driverState: { ...planned.driverState, ...learned } }, endpoints: [] });
    expect(own.host.dump()).toContain('ensure-mac dev=brx0 mac=02:00:00:00:00:99');
  });

  test('a second network with the same bridge name is refused; it routes its subnets (the CNM layer refuses overlaps)', () => {
    const { plan } = setup();
    const first = plan({ options: { 'com.docker.network.bridge.name': 'br-x' } });
    expect(() => plan({ id: NET_B, options: { 'com.docker.network.bridge.name': 'br-x' }, ipv4: [{ addressSpace: 'x', pool: '10.98.0.0/24', auxAddresses: {} }] }, [first]))
      .toThrow(/bridge name br-x is already used by tsnet network aaaaaaaaaaaa/);
    expect(setup().driver.routesSubnets?.(first)).toBe(true);
  });

  test('CreateNetwork rolls back the bridge when the address cannot be set', async () => {
    const { host, driver, plan } = setup();
    host.failOn = (op) => op.op === 'ensure-addr';
    await expect(driver.createNetwork(plan())).rejects.toMatchObject({ code: 'TSNET_HOST_APPLY' });
    const bridge = linkName('b', NET_A);
    const create = `ensure-bridge name=${bridge} mtu=1500 mac=${bridgeMac(NET_A)}`;
    expect(host.dump()).toBe([`apply ${create}`, `fail  ensure-addr dev=${bridge} cidr=10.99.0.1/24`, `apply remove-link name=${bridge}`].join('\n'));
    expect(await host.listLinks()).toEqual([]);
  });

  test('endpoint: veth pair on the bridge with the MAC; Join hands the container end to Docker', async () => {
    const { host, driver, plan } = setup();
    const net = plan();
    await driver.createNetwork(net);
    host.clearLog();
    const ep = endpoint();
    await driver.createEndpoint(net, ep);
    const hostIf = linkName('v', EP_1);
    const peerIf = linkName('p', EP_1);
    expect(host.dump()).toBe(`apply ensure-veth host=${hostIf} peer=${peerIf} master=${linkName('b', NET_A)} mtu=1500 peerMac=02:74:0a:63:00:02`);
    expect(await driver.join(net, ep, '/var/run/docker/netns/abc')).toEqual({
      srcName: peerIf, dstPrefix: 'eth', gateway: '10.99.0.1', gatewayV6: undefined, staticRoutes: [], disableGatewayService: false,
    });
    host.clearLog();
    await driver.deleteEndpoint(net, ep);
    expect(host.dump()).toBe(`apply remove-link name=${hostIf}`);
    host.clearLog();
    await driver.deleteEndpoint(net, ep);
    expect(host.dump()).toBe(`noop  remove-link name=${hostIf}`);
  });

  test('reconcile recreates a missing bridge and an unjoined endpoint, re-attaches a joined one', async () => {
    const { host, driver, plan } = setup();
    const net = plan();
    const unjoined = endpoint();
    host.addExistingLink(linkName('v', 'joined'), 'veth', 'elsewhere');
    const joined = endpoint({ id: 'joined', sandboxKey: '/var/run/docker/netns/j' });
    await driver.reconcile({ network: net, endpoints: [unjoined, joined] });
    const links = await host.listLinks();
    expect(links.map((l) => `${l.name}:${l.master ?? ''}`).sort()).toEqual([
      `${linkName('b', NET_A)}:`,
      `${linkName('p', EP_1)}:`,
      `${linkName('v', EP_1)}:${linkName('b', NET_A)}`,
      `${linkName('v', 'joined')}:${linkName('b', NET_A)}`,
    ].sort());
  });
});
