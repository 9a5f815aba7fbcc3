import { describe, expect, test } from 'vitest';
import { createOverlayDriver, effectiveMtu } from '../../../drivers/overlay/index.js';
import { OverlayRegistry, REPUBLISH_BATCH_PUTS } from '../../../drivers/overlay/registry.js';
import { linkName } from '../../../src/core/ids.js';
import type { EndpointRecord, NetworkRecord } from '../../../src/core/model.js';
import { RecordingHostNet } from '../../../src/host/recording.js';
import { endpoint, network, silentLog } from '../bridge/fixtures.js';
import { waitFor } from '../../support/exec.js';
import { MemoryKvStore } from '../cnm/memory-kv.js';

const SUBNET = [{ addressSpace: 'tsnet-global', pool: '10.88.0.0/24', gateway: '10.88.0.1/24', auxAddresses: {} }];

async function overlayHost(store: MemoryKvStore, hostId: string, underlay: string, networkId: string, options: Record<string, string> = { 'tsnet.overlay.name': 'blue' }) {
  const host = new RecordingHostNet();
  const passes: Array<{ overlay: string; changes: number; lagMs?: number }> = [];
  host.route = { source: underlay, dev: 'eth0', mtu: 1500 };
  const lease = await store.grantLease(10);
  const driver = createOverlayDriver({
    host, log: silentLog, hostId, defaultPort: 4789, globalScope: false,
    global: { store, lease: { current: () => lease.id, onRenewed: () => undefined } },
    underlay: async () => ({ address: underlay, mtu: 1500 }),
    onProgrammed: (pass) => passes.push(pass),
  });
  const draft: NetworkRecord = network({ id: networkId, type: 'overlay', ipv4: SUBNET, options });
  const planned = { ...draft, driverState: driver.planNetwork(draft, []) };
  const net = { ...planned, driverState: { ...planned.driverState, ...(await driver.createNetwork(planned)) } };
  const addEndpoint = async (id: string, address: string, mac: string): Promise<EndpointRecord> => {
    const ep = endpoint({ networkId, id, address, mac });
    const full = ep;
    await driver.createEndpoint(net, full);
    return full;
  };
  return { host, driver, net, lease, addEndpoint, passes };
}

/**
 * Host A's daemon with `count` endpoints on overlay blue, stopped (its lease let go, as
 * HostLiveness.stop does), and the next daemon's driver under a lease of its own, not yet
 * reconciled: what a tsnet restart looks like to the overlay.
 */
async function restartedHost(count: number) {
  const store = new MemoryKvStore();
  const before = await overlayHost(store, 'host-a', '198.19.0.1', 'net-a');
  const endpoints: EndpointRecord[] = [];
  for (let i = 0; i < count; i++) endpoints.push(await before.addEndpoint(`ep-${i}`, `10.88.0.${i + 2}/24`, `02:74:0a:58:00:${(i + 2).toString(16).padStart(2, '0')}`));
  const stop = async () => {
    await before.driver.stop?.();
    await before.lease.release();
  };
  const lease = await store.grantLease(10);
  const after = createOverlayDriver({
    host: before.host, log: silentLog, hostId: 'host-a', defaultPort: 4789, globalScope: false,
    global: { store, lease: { current: () => lease.id, onRenewed: () => undefined } },
    underlay: async () => ({ address: '198.19.0.1', mtu: 1500 }),
  });
  return { store, before, stop, endpoints, lease, after };
}

/** Watch events reach the other host asynchronously: wait for the state they lead to, never a fixed time. */
const eventually = (what: string, check: () => Promise<boolean>) => waitFor(check, { what, timeoutMs: 5_000, intervalMs: 5 });

/** Hosts A and B on overlay blue with one endpoint each, once A has programmed B's. */
async function twoPeers() {
  const store = new MemoryKvStore();
  const a = await overlayHost(store, 'host-a', '198.19.0.1', 'net-a');
  const b = await overlayHost(store, 'host-b', '198.19.0.2', 'net-b');
  await a.addEndpoint('ep-a', '10.88.0.2/24', '02:74:0a:58:00:02');
  await b.addEndpoint('ep-b', '10.88.0.3/24', '02:74:0a:58:00:03');
  const vxA = linkName('x', 'net-a');
  await eventually('host A to program host B', async () => (await a.host.listNeigh(vxA)).length === 1);
  return { store, a, b, vxA };
}

describe('overlay registry in etcd', () => {
  test('the first host records the overlay with a VNI; the second joins; mismatches show both', async () => {
    const store = new MemoryKvStore();
    const a = new OverlayRegistry(store, 'host-a');
    const b = new OverlayRegistry(store, 'host-b');
    const spec = { name: 'blue', subnets: ['10.88.0.0/24'], internal: false, defaultPort: 4789 };
    const def = await a.join(spec, 'net-a');
    expect(def).toMatchObject({ vni: 1000000, port: 4789, hosts: { 'host-a': 'net-a' } });
    expect((await b.join(spec, 'net-b')).hosts).toEqual({ 'host-a': 'net-a', 'host-b': 'net-b' });
    await expect(b.join({ ...spec, subnets: ['10.89.0.0/24'], vni: 99 }, 'net-b')).rejects.toThrow(
      /overlay blue exists \(created by host host-a\) with subnets=10.88.0.0\/24 vni=1000000, but this host asked for subnets=10.89.0.0\/24 vni=99/);
    expect((await a.join({ ...spec, name: 'green' }, 'net-g')).vni).toBe(1000001);
    await expect(a.join({ ...spec, name: 'red', vni: 1000001 }, 'net-r')).rejects.toThrow(/VNI 1000001 is already used by overlay green/);
    expect((await a.join({ ...spec, name: 'red', vni: 7 }, 'net-r')).vni).toBe(7);
    await a.leave('blue');
    expect(await store.get('overlay/v1/vni/1000000')).toBeDefined();
    await b.leave('blue');
    expect(await store.get('overlay/v1/vni/1000000')).toBeUndefined();
    expect(await store.get('overlay/v1/def/blue')).toBeUndefined();
  });

  test('an address another host already uses on the overlay is refused with the IPAM hint', async () => {
    const store = new MemoryKvStore();
    const lease = await store.grantLease(10);
    const a = new OverlayRegistry(store, 'host-a');
    const b = new OverlayRegistry(store, 'host-b');
    await a.publishEndpoint('blue', { id: 'ep-a', mac: '02:00:00:00:00:0a', ips: ['10.88.0.2'] }, lease.id);
    await a.publishEndpoint('blue', { id: 'ep-a', mac: '02:00:00:00:00:0a', ips: ['10.88.0.2'] }, lease.id); // idempotent
    await expect(b.publishEndpoint('blue', { id: 'ep-b', mac: '02:00:00:00:00:0b', ips: ['10.88.0.2'] }, lease.id)).rejects.toMatchObject({
      message: expect.stringMatching(/address 10.88.0.2 is already used on overlay blue by endpoint ep-a on host host-a/),
      hint: expect.stringMatching(/--ipam-driver tsnet --ipam-opt tsnet.scope=global/),
    });
    await a.unpublishEndpoint('blue', { id: 'ep-a', ips: ['10.88.0.2'] });
    await b.publishEndpoint('blue', { id: 'ep-b', mac: '02:00:00:00:00:0b', ips: ['10.88.0.2'] }, lease.id);
  });

  test('a new endpoint is published with the VTEP in one etcd round trip, and withdrawn with it in one', async () => {
    const store = new MemoryKvStore();
    const lease = await store.grantLease(10);
    const a = new OverlayRegistry(store, 'host-a');
    const calls: string[] = [];
    for (const method of ['get', 'put', 'delete', 'txn', 'list'] as const) {
      const original = store[method].bind(store) as (...args: unknown[]) => Promise<unknown>;
      (store as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => { calls.push(method); return original(...args); };
    }
    await a.publishEndpoint('blue', { id: 'ep-a', mac: '02:00:00:00:00:0a', ips: ['10.88.0.2', 'fd00::2'] }, lease.id, { vtep: '198.19.0.1' });
    expect(calls).toEqual(['txn']);
    expect(JSON.parse((await store.get('overlay/v1/net/blue/vtep/host-a'))?.value ?? '{}')).toEqual({ host: 'host-a', address: '198.19.0.1' });
    calls.length = 0;
    // A re-publish (a renewed lease) finds its own claims: read, then written.
    await a.publishEndpoint('blue', { id: 'ep-a', mac: '02:00:00:00:00:0a', ips: ['10.88.0.2', 'fd00::2'] }, lease.id, { vtep: '198.19.0.1' });
    expect(calls).toEqual(['txn', 'get', 'get', 'txn']);
    calls.length = 0;
    // Known to be a re-publish: the claims are read first, so no transaction fails.
    await a.publishEndpoint('blue', { id: 'ep-a', mac: '02:00:00:00:00:0a', ips: ['10.88.0.2', 'fd00::2'] }, lease.id, { vtep: '198.19.0.1', again: true });
    expect(calls).toEqual(['get', 'get', 'txn']);
    calls.length = 0;
    await a.unpublishEndpoint('blue', { id: 'ep-a', ips: ['10.88.0.2', 'fd00::2'] }, true);
    expect(calls).toEqual(['txn']);
    expect(await store.list('overlay/v1/net/blue/')).toEqual([]);
  });

  const many = (n: number) => Array.from({ length: n }, (_, i) => ({
    id: `ep-${i}`, mac: `02:00:00:00:${Math.floor(i / 256).toString(16).padStart(2, '0')}:${(i % 256).toString(16).padStart(2, '0')}`,
    // Every other endpoint dual-stack: three keys to write instead of two.
    ips: i % 2 === 0 ? [`10.88.${Math.floor(i / 250)}.${(i % 250) + 2}`, `fd00::${(i + 2).toString(16)}`] : [`10.88.${Math.floor(i / 250)}.${(i % 250) + 2}`],
  }));

  test('a republish of many endpoints: one read of the claims and a few transactions under etcd\'s operation limit, own claims kept, new ones made', async () => {
    const store = new MemoryKvStore();
    const old = await store.grantLease(10);
    const lease = await store.grantLease(10);
    const a = new OverlayRegistry(store, 'host-a');
    const endpoints = many(200);
    // Half were published before, under the previous daemon's lease; the other half never were.
    for (const ep of endpoints.slice(0, 100)) await a.publishEndpoint('blue', ep, old.id, { vtep: '198.19.0.1' });
    const txns: number[] = [];
    const calls: string[] = [];
    const txn = store.txn.bind(store);
    store.txn = (compares, writes, ...rest) => { txns.push(writes.length); calls.push('txn'); return txn(compares, writes, ...rest); };
    const list = store.list.bind(store);
    store.list = (prefix) => { calls.push(`list ${prefix}`); return list(prefix); };

    expect(await a.republishEndpoints('blue', endpoints, lease.id, '198.19.0.1')).toEqual([]);
    expect(calls[0]).toBe('list overlay/v1/net/blue/addr/');
    // 200 endpoints, 300 addresses, a VTEP in each transaction: 500 writes in batches of at most 120.
    expect(txns.every((n) => n <= REPUBLISH_BATCH_PUTS)).toBe(true);
    expect(txns.length).toBe(5);
    await store.expire(old.id);
    const published = await store.list('overlay/v1/net/blue/');
    expect(published.filter((e) => e.key.includes('/ep/'))).toHaveLength(200);
    expect(published.filter((e) => e.key.includes('/addr/'))).toHaveLength(300);
    expect(published.every((e) => e.lease === lease.id)).toBe(true);
    expect(JSON.parse((await store.get('overlay/v1/net/blue/ep/ep-7'))?.value ?? '{}')).toEqual({ ...endpoints[7], host: 'host-a' });
  });

  test('a republish leaves to publishEndpoint the endpoints whose address another holds, and a batch that lost a race', async () => {
    const store = new MemoryKvStore();
    const lease = await store.grantLease(10);
    const a = new OverlayRegistry(store, 'host-a');
    const b = new OverlayRegistry(store, 'host-b');
    const endpoints = many(3);
    await b.publishEndpoint('blue', { id: 'ep-b', mac: '02:00:00:00:00:0b', ips: [endpoints[1]?.ips[0] ?? ''] }, lease.id);
    expect((await a.republishEndpoints('blue', endpoints, lease.id, '198.19.0.1')).map((e) => e.id)).toEqual(['ep-1']);
    expect(await store.get('overlay/v1/net/blue/ep/ep-0')).toBeDefined();
    expect(await store.get('overlay/v1/net/blue/ep/ep-1')).toBeUndefined();
    await expect(a.publishEndpoint('blue', endpoints[1] as (typeof endpoints)[number], lease.id, { again: true })).rejects.toMatchObject({ code: 'TSNET_OVERLAY_ADDR_TAKEN' });

    // Another writer claims an address between the read and the transaction: nothing of the batch is written.
    const fresh = many(2).map((e) => ({ ...e, id: `${e.id}-x`, ips: e.ips.map((ip) => ip.replace('10.88.', '10.89.').replace('fd00::', 'fd01::')) }));
    const list = store.list.bind(store);
    store.list = async (prefix) => {
      const read = await list(prefix);
      await b.publishEndpoint('blue', { id: 'ep-b2', mac: '02:00:00:00:00:0c', ips: [fresh[1]?.ips[0] ?? ''] }, lease.id);
      return read;
    };
    expect((await a.republishEndpoints('blue', fresh, lease.id, '198.19.0.1')).map((e) => e.id)).toEqual(['ep-0-x', 'ep-1-x']);
    expect(await store.get('overlay/v1/net/blue/ep/ep-0-x')).toBeUndefined();
  });
});

describe('overlay driver on two hosts', () => {
  const LAYOUTS = {
    // The default: the VXLAN device alone; each container a macvlan link on it.
    macvlan: { options: { 'tsnet.overlay.gateway': 'docker_gwbridge' }, devices: (net: string) => [linkName('x', net)], master: '', endpointLinks: (ep: string) => [linkName('m', ep)], srcName: (ep: string) => linkName('m', ep) },
    bridge: {
      options: { 'tsnet.overlay.datapath': 'bridge', 'tsnet.overlay.gateway': 'docker_gwbridge' }, devices: (net: string) => [linkName('b', net), linkName('x', net)], master: ` master=${linkName('b', 'net-a')}`,
      endpointLinks: (ep: string) => [linkName('p', ep), linkName('v', ep)], srcName: (ep: string) => linkName('p', ep),
    },
  } as const;

  test.each(Object.keys(LAYOUTS) as Array<keyof typeof LAYOUTS>)('%s layout: devices appear with the network; each host programs the other; the last endpoint withdraws the VTEP, DeleteNetwork the devices', async (datapath) => {
    const layout = LAYOUTS[datapath];
    const store = new MemoryKvStore();
    const a = await overlayHost(store, 'host-a', '198.19.0.1', 'net-a', { 'tsnet.overlay.name': 'blue', ...layout.options });
    const b = await overlayHost(store, 'host-b', '198.19.0.2', 'net-b', { 'tsnet.overlay.name': 'blue', ...layout.options });
    // Made by CreateNetwork: the first container on a host starts as fast as the others.
    expect(a.host.dump().split('\n')).toContain(`apply ensure-vxlan name=${linkName('x', 'net-a')} vni=1000000 local=198.19.0.1 port=4789 mtu=1450${layout.master}`);
    const names = async () => (await a.host.listLinks()).map((l) => l.name).sort();
    expect(await names()).toEqual([...layout.devices('net-a')].sort());
    expect(await store.get('overlay/v1/net/blue/vtep/host-a')).toBeUndefined(); // no endpoint yet: nothing to flood to
    const epA = await a.addEndpoint('ep-a', '10.88.0.2/24', '02:74:0a:58:00:02');
    expect(await names()).toEqual([...layout.devices('net-a'), ...layout.endpointLinks('ep-a')].sort());
    if (datapath === 'macvlan') expect(a.host.dump()).toContain(`apply ensure-macvlan name=${linkName('m', 'ep-a')} parent=${linkName('x', 'net-a')} mode=bridge mtu=1450 mac=02:74:0a:58:00:02`);
    expect(a.driver.ownedLinks({ network: a.net, endpoints: [epA] }).sort()).toEqual(await names());
    // What `tsnet network` shows besides the links.
    expect(a.driver.describe?.(a.net)).toEqual({ overlay: 'blue', datapath, gateway: 'docker_gwbridge', vni: '1000000', port: '4789' });
    await b.addEndpoint('ep-b', '10.88.0.3/24', '02:74:0a:58:00:03');
    const vxA = linkName('x', 'net-a');
    const vxB = linkName('x', 'net-b');
    await eventually('each host to program the other', async () => (await a.host.listNeigh(vxA)).length > 0 && (await b.host.listNeigh(vxB)).length > 0);
    expect(await a.host.listFdb(vxA)).toEqual(expect.arrayContaining([{ mac: '00:00:00:00:00:00', dst: '198.19.0.2' }, { mac: '02:74:0a:58:00:03', dst: '198.19.0.2' }]));
    expect(await a.host.listNeigh(vxA)).toEqual([{ ip: '10.88.0.3', mac: '02:74:0a:58:00:03' }]);
    expect(await b.host.listNeigh(vxB)).toEqual([{ ip: '10.88.0.2', mac: '02:74:0a:58:00:02' }]);
    const joined = await a.driver.join(a.net, epA, '/x');
    expect(joined).toMatchObject({ srcName: layout.srcName('ep-a'), dstPrefix: 'eth', disableGatewayService: false });
    expect(joined.gateway).toBeUndefined();
    // Bridged frames pass the host's FORWARD chain (br_netfilter); macvlan frames never reach it.
    expect(a.driver.firewallRules({ network: a.net, endpoints: [epA] })).toHaveLength(datapath === 'bridge' ? 2 : 0);
    expect(a.driver.isolationInterfaces(a.net)).toEqual(datapath === 'bridge' ? [linkName('b', 'net-a')] : []);
    // Host A's endpoint goes: host B forgets it and the flood entry to A.
    await a.driver.deleteEndpoint(a.net, epA);
    await eventually('host B to forget host A', async () => (await b.host.listNeigh(vxB)).length === 0 && (await b.host.listFdb(vxB)).length === 0);
    expect(await b.host.listFdb(vxB)).toEqual([]);
    expect(await b.host.listNeigh(vxB)).toEqual([]);
    expect(await names()).toEqual([...layout.devices('net-a')].sort());
    await a.driver.deleteNetwork(a.net);
    expect(await a.host.listLinks()).toEqual([]);
    await a.driver.stop?.();
    await b.driver.stop?.();
  });

  const LOCAL = { 'tsnet.overlay.name': 'blue' }; // the default gateway
  const GWBRIDGE = { 'tsnet.overlay.name': 'blue', 'tsnet.overlay.gateway': 'docker_gwbridge' };
  const DUAL = [...SUBNET, { addressSpace: 'tsnet-global', pool: 'fd88::/64', gateway: 'fd88::1/64', auxAddresses: {} }];

  test('local gateway (the default), macvlan layout: a gateway link of the VXLAN device holds the pool gateways; Join gives them; NAT and ports on it', async () => {
    const store = new MemoryKvStore();
    const a = await overlayHost(store, 'host-a', '198.19.0.1', 'net-a', LOCAL);
    const gw = linkName('g', 'net-a');
    const plan = a.host.dump().split('\n');
    expect(plan).toEqual(expect.arrayContaining([
      expect.stringMatching(new RegExp(`^apply ensure-macvlan name=${gw} parent=${linkName('x', 'net-a')} mode=bridge mtu=1450 mac=02:62:`)),
      `apply ensure-addr dev=${gw} cidr=10.88.0.1/24`,
      `apply ensure-up dev=${gw}`,
      expect.stringMatching(/ensure-sysctl key=net\/ipv4\/ip_forward value=1/),
      expect.stringMatching(new RegExp(`ensure-sysctl key=net/ipv4/conf/${gw}/route_localnet value=1`)),
    ]));
    // The gateway link comes after the VXLAN device it sits on.
    expect(plan.findIndex((l) => l.includes('ensure-vxlan'))).toBeLessThan(plan.findIndex((l) => l.includes(`ensure-macvlan name=${gw}`)));
    const ep = { ...(await a.addEndpoint('ep-a', '10.88.0.2/24', '02:74:0a:58:00:02')), ports: [{ proto: 'tcp' as const, port: 80, hostIp: '', hostPort: 8080, hostPortEnd: 8080 }] };
    expect(await a.driver.join(a.net, ep, '/x')).toMatchObject({ srcName: linkName('m', 'ep-a'), gateway: '10.88.0.1', disableGatewayService: false });
    expect(a.driver.ownedLinks({ network: a.net, endpoints: [ep] }).sort()).toEqual((await a.host.listLinks()).map((l) => l.name).sort());
    expect(a.driver.isolationInterfaces(a.net)).toEqual([gw]);
    expect(a.driver.describe?.(a.net)).toMatchObject({ gateway: 'local', datapath: 'macvlan' });
    const rules = a.driver.firewallRules({ network: a.net, endpoints: [ep] }).map((r) => `${r.chain} ${r.args.join(' ')}`);
    expect(rules).toEqual(expect.arrayContaining([
      expect.stringMatching(new RegExp(`^TSNET-POSTROUTING -s 10.88.0.0/24 ! -o ${gw} .*-j MASQUERADE$`)),
      expect.stringMatching(/^TSNET-PORTS -p tcp -m tcp --dport 8080 .*-j DNAT --to-destination 10.88.0.2:80$/),
      expect.stringMatching(new RegExp(`^TSNET-FORWARD -o ${gw} .*-j DROP$`)),
    ]));
    // Docker 28+ reserves the gateway address only when the overlay will use it.
    expect(a.driver.gatewayNeeds?.({ options: LOCAL, internal: false })).toEqual({ ipv4: true, ipv6: true });
    expect(a.driver.gatewayNeeds?.({ options: LOCAL, internal: true })).toEqual({ ipv4: false, ipv6: false });
    expect(a.driver.gatewayNeeds?.({ options: GWBRIDGE, internal: false })).toEqual({ ipv4: false, ipv6: false });
    // Removing the VXLAN device takes the gateway link with it.
    await a.driver.deleteEndpoint(a.net, ep);
    await a.driver.deleteNetwork(a.net);
    expect(await a.host.listLinks()).toEqual([]);
    await a.driver.stop?.();
  });

  test('local gateway, bridge layout: the bridge holds both families\' gateways and keeps IPv6; --internal has no gateway at all', async () => {
    const host = new RecordingHostNet();
    const store = new MemoryKvStore();
    const driver = createOverlayDriver({ host, log: silentLog, hostId: 'h', defaultPort: 4789, globalScope: false, global: { store, lease: { current: () => 'x', onRenewed: () => undefined } }, underlay: async () => ({ address: '198.19.0.1', mtu: 1500 }) });
    const draft = network({ id: 'net-b', type: 'overlay', ipv4: SUBNET, ipv6: DUAL.slice(1), options: { ...LOCAL, 'tsnet.overlay.datapath': 'bridge' } });
    const net = { ...draft, driverState: driver.planNetwork(draft, []) };
    const created = { ...net, driverState: { ...net.driverState, ...(await driver.createNetwork(net)) } };
    const bridge = linkName('b', 'net-b');
    const plan = host.dump();
    expect(plan).toContain(`apply ensure-addr dev=${bridge} cidr=10.88.0.1/24`);
    expect(plan).toContain(`apply ensure-addr dev=${bridge} cidr=fd88::1/64`);
    expect(plan).not.toContain('disable_ipv6');
    expect(plan).not.toContain(linkName('g', 'net-b'));
    const ep = endpoint({ networkId: 'net-b', id: 'ep-b', address: '10.88.0.2/24', addressV6: 'fd88::2/64', mac: '02:74:0a:58:00:02' });
    expect(await driver.join(created, ep, '/x')).toMatchObject({ gateway: '10.88.0.1', gatewayV6: 'fd88::1' });
    expect(driver.isolationInterfaces(created)).toEqual([bridge]);
    await driver.deleteNetwork(created);
    const internal = network({ id: 'net-i', type: 'overlay', internal: true, ipv4: SUBNET, options: { ...LOCAL, 'tsnet.overlay.name': 'inner' } });
    const plannedInternal = { ...internal, driverState: driver.planNetwork(internal, []) };
    host.clearLog();
    await driver.createNetwork(plannedInternal);
    expect(host.dump()).not.toContain('ensure-addr');
    expect((await driver.join(plannedInternal, { ...ep, networkId: 'net-i' }, '/x')).gateway).toBeUndefined();
    expect(driver.firewallRules({ network: plannedInternal, endpoints: [] })).toEqual([]);
    await driver.stop?.();
  });

  test('local gateway: the overlay routes its subnets on this host (the CNM layer refuses overlaps), not with docker_gwbridge or --internal; a bad gateway value names the option', async () => {
    const driver = createOverlayDriver({ host: new RecordingHostNet(), log: silentLog, hostId: 'h', defaultPort: 4789, globalScope: false, global: { store: new MemoryKvStore(), lease: { current: () => 'x', onRenewed: () => undefined } }, underlay: async () => ({ address: '198.19.0.1', mtu: 1500 }) });
    const draft = network({ id: 'net-o', type: 'overlay', ipv4: SUBNET, options: LOCAL });
    const planned = (n: NetworkRecord) => ({ ...n, driverState: driver.planNetwork(n, []) });
    expect(driver.routesSubnets?.(planned(draft))).toBe(true);
    expect(driver.routesSubnets?.(planned({ ...draft, options: GWBRIDGE }))).toBe(false);
    expect(driver.routesSubnets?.(planned({ ...draft, internal: true }))).toBe(false);
    expect(() => driver.planNetwork({ ...draft, options: { ...LOCAL, 'tsnet.overlay.gateway': 'router' } }, []))
      .toThrow(/network option "tsnet.overlay.gateway": "router" is not an overlay gateway/);
    await driver.stop?.();
  });

  test('a record written before the macvlan layout (no datapath) keeps its bridge; a bad datapath is refused, naming the option', async () => {
    const host = new RecordingHostNet();
    const store = new MemoryKvStore();
    const driver = createOverlayDriver({ host, log: silentLog, hostId: 'h', defaultPort: 4789, globalScope: false, global: { store, lease: { current: () => 'x', onRenewed: () => undefined } }, underlay: async () => ({ address: '198.19.0.1', mtu: 1500 }) });
    const old = network({ id: 'net-old', type: 'overlay', ipv4: SUBNET, driverState: { name: 'blue', vni: 4096, port: 4789, bridge: linkName('b', 'net-old'), vxlan: linkName('x', 'net-old') } });
    const ep = endpoint({ networkId: 'net-old', id: 'ep-old', address: '10.88.0.2/24', mac: '02:74:0a:58:00:02' });
    expect(driver.ownedLinks({ network: old, endpoints: [ep] }).sort()).toEqual([linkName('b', 'net-old'), linkName('p', 'ep-old'), linkName('v', 'ep-old'), linkName('x', 'net-old')].sort());
    expect((await driver.join(old, ep, '/x')).srcName).toBe(linkName('p', 'ep-old'));
    // Start-up after an upgrade: the old network's bridge and its VXLAN port come back as they were.
    await driver.reconcile({ network: old, endpoints: [ep] });
    expect(host.dump().split('\n')).toContain(`apply ensure-vxlan name=${linkName('x', 'net-old')} vni=4096 local=198.19.0.1 port=4789 mtu=1450 master=${linkName('b', 'net-old')}`);
    expect((await host.listLinks()).map((l) => l.name).sort()).toEqual([linkName('b', 'net-old'), linkName('p', 'ep-old'), linkName('v', 'ep-old'), linkName('x', 'net-old')].sort());
    await driver.stop?.();
    expect(() => driver.planNetwork(network({ type: 'overlay', ipv4: SUBNET, options: { 'tsnet.overlay.name': 'x', 'tsnet.overlay.datapath': 'tap' } }), []))
      .toThrow(/network option "tsnet.overlay.datapath": "tap" is not an overlay data path/);
    expect(driver.planNetwork(network({ type: 'overlay', ipv4: SUBNET, options: { 'tsnet.overlay.name': 'x' } }), [])).toMatchObject({ datapath: 'macvlan' });
  });

  test('macvlan layout: start-up makes again the link of an endpoint not yet joined, and leaves a joined one (in its container) alone', async () => {
    const store = new MemoryKvStore();
    const a = await overlayHost(store, 'host-a', '198.19.0.1', 'net-a');
    const waiting = await a.addEndpoint('ep-w', '10.88.0.2/24', '02:74:0a:58:00:02');
    const joined = { ...(await a.addEndpoint('ep-j', '10.88.0.3/24', '02:74:0a:58:00:03')), sandboxKey: '/var/run/docker/netns/abc' };
    // A reboot: the kernel lost everything; the joined endpoint's link is in its container's namespace (as far as the host can see, absent).
    for (const l of await a.host.listLinks()) await a.host.apply({ op: 'remove-link', name: l.name });
    await a.driver.stop?.();
    const restarted = await overlayHost(store, 'host-a', '198.19.0.1', 'net-a');
    for (const id of ['ep-w', 'ep-j']) await store.delete(`overlay/v1/net/blue/ep/${id}`); // as if the old lease had expired
    await restarted.driver.reconcile({ network: a.net, endpoints: [waiting, joined] });
    expect((await restarted.host.listLinks()).map((l) => l.name).sort()).toEqual([linkName('m', 'ep-w'), linkName('g', 'net-a'), linkName('x', 'net-a')].sort());
    expect(await store.get('overlay/v1/net/blue/ep/ep-j')).toBeDefined(); // both published again
    expect(await store.get('overlay/v1/net/blue/ep/ep-w')).toBeDefined();
    await restarted.driver.stop?.();
  });

  test.each([
    ['macvlan', LOCAL], ['macvlan', GWBRIDGE], ['bridge', LOCAL], ['bridge', GWBRIDGE],
  ] as const)('%s layout (%o): the links tsnet owns and removes are read off what it made, also for a record with no agreed VNI', async (datapath, options) => {
    const store = new MemoryKvStore();
    const a = await overlayHost(store, 'host-a', '198.19.0.1', 'net-a', { ...options, 'tsnet.overlay.datapath': datapath });
    const made = (await a.host.listLinks()).map((l) => l.name).sort();
    expect(a.driver.ownedLinks({ network: a.net, endpoints: [] }).sort()).toEqual(made);
    // A crash between planNetwork and the agreed VNI leaves a record without it: start-up must still know its links.
    const { vni: _vni, port: _port, ...pending } = a.net.driverState;
    expect(a.driver.ownedLinks({ network: { ...a.net, driverState: pending }, endpoints: [] }).sort()).toEqual(made);
    await a.driver.deleteNetwork(a.net);
    expect(await a.host.listLinks()).toEqual([]);
    await a.driver.stop?.();
  });

  test('macvlan layout: a joined container is gone once Docker has moved its link back to the host, not while the link is in its sandbox', async () => {
    const store = new MemoryKvStore();
    const a = await overlayHost(store, 'host-a', '198.19.0.1', 'net-a');
    const epA = await a.addEndpoint('ep-a', '10.88.0.2/24', '02:74:0a:58:00:02');
    const joined = { ...epA, sandboxKey: '/var/run/docker/netns/abc', joinedAt: new Date(0).toISOString() };
    // Still in the host namespace after the Join settled: Docker returned it (the container left).
    expect(await a.driver.containerGone?.(a.net, joined, Date.now())).toBe(true);
    // Docker moved it into the container (the fake: it left the host namespace).
    await a.host.apply({ op: 'remove-link', name: linkName('m', 'ep-a') });
    expect(await a.driver.containerGone?.(a.net, joined, Date.now())).toBe(false);
    await a.driver.stop?.();
  });

  test('the peer report (tsnet peers) lists each VTEP with its endpoints, and names kernel entries that differ from etcd', async () => {
    const { a, b, vxA } = await twoPeers();
    const programmer = a.driver.programmer('net-a');
    const report = await programmer?.report();
    expect(report).toMatchObject({ overlay: 'blue', device: vxA, missing: [], stale: [], watching: true, lastConverged: expect.any(String) });
    expect(report?.vteps).toEqual(expect.arrayContaining([
      expect.objectContaining({ host: 'host-a', address: '198.19.0.1', local: true, endpoints: [{ id: 'ep-a', mac: '02:74:0a:58:00:02', ips: ['10.88.0.2'] }] }),
      expect.objectContaining({ host: 'host-b', address: '198.19.0.2', local: false, seenAt: expect.any(String), endpoints: [{ id: 'ep-b', mac: '02:74:0a:58:00:03', ips: ['10.88.0.3'] }] }),
    ]));
    // Someone removes an entry by hand, and adds one no peer asks for: the report says both, before the resync heals it.
    await a.host.apply({ op: 'remove-neigh', dev: vxA, ip: '10.88.0.3' });
    await a.host.apply({ op: 'ensure-fdb', dev: vxA, mac: '02:00:00:00:00:99', dst: '198.19.0.9' });
    expect(await programmer?.report()).toMatchObject({ missing: ['neigh 10.88.0.3 lladdr 02:74:0a:58:00:03'], stale: ['fdb 02:00:00:00:00:99 dst 198.19.0.9'] });
    // What the metrics read: host B's VTEP and endpoint as peers, and each pass that followed an etcd event with its lag.
    expect(programmer?.counts()).toEqual({ vteps: 1, endpoints: 1 });
    expect(a.driver.programmers()).toEqual([programmer]);
    expect(a.passes.some((p) => p.overlay === 'blue' && p.changes > 0 && typeof p.lagMs === 'number')).toBe(true);
    await a.driver.stop?.();
    await b.driver.stop?.();
  });

  test('a pass for an event compares with what it last applied (no kernel read); converge() reads the kernel and repairs what changed behind tsnet\'s back', async () => {
    const { a, b, vxA } = await twoPeers();
    const neighbours = a.host.listNeigh.bind(a.host);
    const reads: string[] = [];
    for (const method of ['listFdb', 'listNeigh'] as const) {
      const original = a.host[method].bind(a.host) as (dev: string) => Promise<unknown>;
      (a.host as unknown as Record<string, unknown>)[method] = (dev: string) => { reads.push(method); return original(dev); };
    }
    await a.addEndpoint('ep-a2', '10.88.0.6/24', '02:74:0a:58:00:06'); // a local endpoint: nothing for A's kernel
    await b.addEndpoint('ep-b2', '10.88.0.5/24', '02:74:0a:58:00:05');
    await eventually('host A to program the second endpoint', async () => (await neighbours(vxA)).length === 2);
    expect(reads).toEqual([]);
    await a.host.apply({ op: 'remove-neigh', dev: vxA, ip: '10.88.0.3' });
    await a.driver.programmer('net-a')?.converge();
    expect(reads.sort()).toEqual(['listFdb', 'listNeigh']);
    expect((await neighbours(vxA)).map((n) => n.ip).sort()).toEqual(['10.88.0.3', '10.88.0.5']);
    await a.driver.stop?.();
    await b.driver.stop?.();
  });

  test('stop() (daemon shutdown) ends the peer watch but leaves the devices and entries: the overlay keeps working while tsnet is down', async () => {
    const { store, a, b, vxA } = await twoPeers();
    await a.driver.stop?.();
    const log = a.host.dump();
    // A new peer appears while host A's tsnet is stopped: nothing programs it on host A.
    const c = await overlayHost(store, 'host-c', '198.19.0.3', 'net-c');
    await c.addEndpoint('ep-c', '10.88.0.4/24', '02:74:0a:58:00:04');
    await eventually('host B (still running) to learn host C, so the event has been sent', async () => (await b.host.listNeigh(linkName('x', 'net-b'))).length === 2);
    expect(a.host.dump()).toBe(log);
    expect(await a.host.listNeigh(vxA)).toEqual([{ ip: '10.88.0.3', mac: '02:74:0a:58:00:03' }]);
    expect((await a.host.listLinks()).map((l) => l.name).sort()).toEqual([linkName('m', 'ep-a'), linkName('g', 'net-a'), vxA].sort());
    await b.driver.stop?.();
    await c.driver.stop?.();
  });

  test('a host that disappears (its lease expires) is removed from the others', async () => {
    const { store, a, b } = await twoPeers();
    expect(await a.host.listNeigh(linkName('x', 'net-a'))).toEqual([{ ip: '10.88.0.3', mac: '02:74:0a:58:00:03' }]);
    await store.expire(b.lease.id);
    await eventually('host A to drop host B', async () => (await a.host.listNeigh(linkName('x', 'net-a'))).length === 0 && (await a.host.listFdb(linkName('x', 'net-a'))).length === 0);
    expect(await a.host.listFdb(linkName('x', 'net-a'))).toEqual([]);
    expect(await a.host.listNeigh(linkName('x', 'net-a'))).toEqual([]);
  });

  test('options: a name is required, VNI and MTU are checked, etcd is required', async () => {
    const store = new MemoryKvStore();
    const host = new RecordingHostNet();
    const lease = { current: () => 'x', onRenewed: () => undefined };
    const driver = createOverlayDriver({ host, log: silentLog, hostId: 'h', defaultPort: 4789, globalScope: false, global: { store, lease }, underlay: async () => ({ address: '198.19.0.1', mtu: 1500 }) });
    const plan = (options: Record<string, string>) => driver.planNetwork(network({ type: 'overlay', options }), []);
    expect(() => plan({})).toThrow(/an overlay network needs a name that is the same on every host/);
    expect(() => plan({ 'tsnet.overlay.name': 'x', 'tsnet.vni': '16777216' })).toThrow(/"tsnet.vni": "16777216" is not an integer between 1 and 16777215/);
    expect(() => plan({ 'tsnet.overlay.name': 'bad name' })).toThrow(/overlay name "bad name" is not valid/);
    expect(effectiveMtu(undefined, 1500)).toBe(1450);
    expect(effectiveMtu(1400, 1500)).toBe(1400);
    expect(() => effectiveMtu(1460, 1500)).toThrow(/MTU 1460 does not fit: the underlay MTU is 1500 and VXLAN needs 50 bytes of it/);
    const noEtcd = createOverlayDriver({ host, log: silentLog, hostId: 'h', defaultPort: 4789, globalScope: false, underlay: async () => ({ address: '198.19.0.1', mtu: 1500 }) });
    expect(() => noEtcd.planNetwork(network({ type: 'overlay', options: { 'tsnet.overlay.name': 'x' } }), [])).toThrow(/overlay networks need etcd/);
    const swarm = createOverlayDriver({ host, log: silentLog, hostId: 'h', defaultPort: 4789, globalScope: true, global: { store, lease }, underlay: async () => ({ address: '198.19.0.1', mtu: 1500 }) });
    expect(swarm.planNetwork(network({ id: 'same-everywhere', type: 'overlay' }), [])).toMatchObject({ name: 'same-everywhere' });
  });
});

describe('container names across hosts (issue 12 §1)', () => {
  test('a name published on host B resolves on host A; it goes with its endpoint; a name change costs no kernel pass', async () => {
    const { store, a, b } = await twoPeers();
    const programmer = a.driver.programmer('net-a');
    expect(programmer?.resolve('web')).toBeUndefined();
    expect(await b.driver.nameEndpoint('net-b', 'ep-b', ['web', 'www'])).toBe(true);
    await eventually('host A to learn the name', async () => programmer?.resolve('web') !== undefined);
    expect(programmer?.resolve('www')).toEqual({ ipv4: ['10.88.0.3'], ipv6: [] });
    // A reverse lookup answers the endpoint's first name, its container's.
    expect(programmer?.reverse('10.88.0.3')).toBe('web');
    expect(programmer?.reverse('10.88.0.99')).toBeUndefined();
    // The names ride in the endpoint's own record, under B's lease.
    const record = await store.get('overlay/v1/net/blue/ep/ep-b');
    expect(JSON.parse(record?.value ?? '{}')).toMatchObject({ names: ['web', 'www'], host: 'host-b' });
    expect(record?.lease).toBe(b.lease.id);
    const passes = a.passes.length;
    await b.driver.nameEndpoint('net-b', 'ep-b', ['web2']);
    await eventually('host A to see the rename', async () => programmer?.resolve('web2') !== undefined);
    expect(programmer?.resolve('web')).toBeUndefined();
    expect(programmer?.reverse('10.88.0.3')).toBe('web2');
    expect(a.passes.length).toBe(passes);
    // An endpoint this host does not have is never published, and names never bring one back.
    expect(await b.driver.nameEndpoint('net-b', 'ep-gone', ['ghost'])).toBe(false);
    const epB = endpoint({ networkId: 'net-b', id: 'ep-b', address: '10.88.0.3/24', mac: '02:74:0a:58:00:03' });
    await b.driver.deleteEndpoint(b.net, epB);
    await eventually('host A to forget the name', async () => programmer?.resolve('web2') === undefined);
    expect(programmer?.reverse('10.88.0.3')).toBeUndefined();
    expect(await store.get('overlay/v1/net/blue/ep/ep-b')).toBeUndefined();
    await a.driver.stop?.();
    await b.driver.stop?.();
  });

  test('two containers with one name (on two hosts) both answer, as Docker does for a shared alias', async () => {
    const { a, b } = await twoPeers();
    await a.driver.nameEndpoint('net-a', 'ep-a', ['api']);
    await b.driver.nameEndpoint('net-b', 'ep-b', ['api']);
    const programmer = a.driver.programmer('net-a');
    await eventually('both holders', async () => programmer?.resolve('api')?.ipv4.length === 2);
    expect([...(programmer?.resolve('api')?.ipv4 ?? [])].sort()).toEqual(['10.88.0.2', '10.88.0.3']);
    await a.driver.stop?.();
    await b.driver.stop?.();
  });

  test('a restart: the new daemon re-publishes every endpoint under its own lease with the names etcd has, so the old lease running out withdraws nothing', async () => {
    const { store, before, stop, endpoints, lease, after } = await restartedHost(40);
    await before.driver.nameEndpoint('net-a', 'ep-7', ['web', 'www']);
    await stop();
    await after.reconcile({ network: before.net, endpoints });
    await store.expire(before.lease.id);

    const published = await store.list('overlay/v1/net/blue/');
    expect(published.filter((e) => e.key.includes('/ep/'))).toHaveLength(40);
    expect(published.filter((e) => e.key.includes('/addr/'))).toHaveLength(40);
    expect(published.map((e) => e.key)).toContain('overlay/v1/net/blue/vtep/host-a');
    expect(published.every((e) => e.lease === lease.id)).toBe(true);
    expect(JSON.parse((await store.get('overlay/v1/net/blue/ep/ep-7'))?.value ?? '{}')).toMatchObject({ names: ['web', 'www'] });
    expect(JSON.parse((await store.get('overlay/v1/net/blue/ep/ep-8'))?.value ?? '{}')).not.toHaveProperty('names');
    await after.stop?.();
  });

  test('a republish that etcd refuses is tried again with a back-off, so nothing is left under the previous daemon\'s lease', async () => {
    const { store, before, stop, endpoints, lease, after } = await restartedHost(5);
    await stop();
    const txn = store.txn.bind(store);
    let refusals = 2;
    store.txn = (...args) => (refusals-- > 0 ? Promise.reject(new Error('etcd unavailable')) : txn(...args));
    await after.reconcile({ network: before.net, endpoints });
    expect((await store.list('overlay/v1/net/blue/ep/')).every((e) => e.lease === before.lease.id)).toBe(true);
    // Refused at start-up and on the first retry (1 s later); the second (2 s later) gets through.
    await waitFor(async () => (await store.list('overlay/v1/net/blue/ep/')).every((e) => e.lease === lease.id), { what: 'the endpoints under the new lease', timeoutMs: 6_000, intervalMs: 50 });
    await store.expire(before.lease.id);
    expect(await store.list('overlay/v1/net/blue/ep/')).toHaveLength(5);
    expect(await store.list('overlay/v1/net/blue/addr/')).toHaveLength(5);
    await after.stop?.();
  });

  test('an endpoint withdrawn while a republish is under way is not brought back by it', async () => {
    const { store, before, stop, endpoints, lease, after } = await restartedHost(3);
    await stop();
    // Docker removes ep-1 just after the republish has read the claims: its batch fails the compare.
    const list = store.list.bind(store);
    let raced = false;
    store.list = async (prefix) => {
      const read = await list(prefix);
      if (prefix.endsWith('/addr/') && !raced) {
        raced = true;
        await after.withdrawEndpoint?.(before.net, endpoints[1] as EndpointRecord);
      }
      return read;
    };
    await after.reconcile({ network: before.net, endpoints });
    expect(raced).toBe(true);
    expect((await store.list('overlay/v1/net/blue/ep/')).map((e) => e.key).sort()).toEqual(['overlay/v1/net/blue/ep/ep-0', 'overlay/v1/net/blue/ep/ep-2']);
    expect((await store.list('overlay/v1/net/blue/ep/')).every((e) => e.lease === lease.id)).toBe(true);
    expect(await store.list('overlay/v1/net/blue/addr/')).toHaveLength(2);
    await after.stop?.();
  });

  test('names survive a re-publish under a new lease (they are kept with the endpoint on its host)', async () => {
    const store = new MemoryKvStore();
    let renewed: (() => void) | undefined;
    let lease = await store.grantLease(10);
    const host = new RecordingHostNet();
    host.route = { source: '198.19.0.1', dev: 'eth0', mtu: 1500 };
    const driver = createOverlayDriver({
      host, log: silentLog, hostId: 'host-a', defaultPort: 4789, globalScope: false,
      global: { store, lease: { current: () => lease.id, onRenewed: (fn: () => void) => { renewed = fn; } } },
      underlay: async () => ({ address: '198.19.0.1', mtu: 1500 }),
    });
    const draft: NetworkRecord = network({ id: 'net-a', type: 'overlay', ipv4: SUBNET, options: { 'tsnet.overlay.name': 'blue' } });
    const planned = { ...draft, driverState: driver.planNetwork(draft, []) };
    const net = { ...planned, driverState: { ...planned.driverState, ...(await driver.createNetwork(planned)) } };
    await driver.createEndpoint(net, endpoint({ networkId: 'net-a', id: 'ep-a', address: '10.88.0.2/24', mac: '02:74:0a:58:00:02' }));
    await driver.nameEndpoint('net-a', 'ep-a', ['web']);
    await lease.revoke();
    expect(await store.get('overlay/v1/net/blue/ep/ep-a')).toBeUndefined();
    lease = await store.grantLease(10);
    renewed?.();
    await eventually('the endpoint to be published again', async () => (await store.get('overlay/v1/net/blue/ep/ep-a')) !== undefined);
    expect(JSON.parse((await store.get('overlay/v1/net/blue/ep/ep-a'))?.value ?? '{}')).toMatchObject({ names: ['web'] });
    await driver.stop?.();
  });
});
