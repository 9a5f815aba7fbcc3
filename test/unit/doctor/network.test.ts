import { describe, expect, test } from 'vitest';
import { overlayKeys } from '../../../drivers/overlay/registry.js';
import { VXLAN_OVERHEAD as DRIVER_OVERHEAD } from '../../../drivers/overlay/options.js';
import type { CheckResult } from '../../../src/doctor/check.js';
import { mtuCheck, routesCheck, VXLAN_OVERHEAD, vxlanPortCheck } from '../../../src/doctor/network.js';
import { VTEP_PREFIX } from '../../../src/doctor/service-probe.js';
import { context, ETCD, healthyProbe, network } from './fake-probe.js';

const one = async (p: Promise<CheckResult | readonly CheckResult[]>) => (await p) as CheckResult;

test('doctor\'s copies of the overlay constants match the driver\'s', () => {
  expect(VXLAN_OVERHEAD).toBe(DRIVER_OVERHEAD);
  expect(overlayKeys.vtep('ov', 'node-2').startsWith(VTEP_PREFIX)).toBe(true);
});

describe('overlay.mtu', () => {
  test('no etcd and no --vxlan-local-ip: SKIP', async () => {
    expect((await one(mtuCheck(context(healthyProbe())))).status).toBe('SKIP');
  });
  test('underlay 1500 and fitting VXLAN devices: PASS with the overlay MTU', async () => {
    const probe = healthyProbe({ links: async () => [{ name: 'eth0', mtu: 1500 }, { name: 'tsnx-0123456789', kind: 'vxlan', mtu: 1450 }] });
    const result = await one(mtuCheck(context(probe, { etcd: ETCD })));
    expect(result).toMatchObject({ status: 'PASS', message: 'underlay eth0 (the route to etcd 10.0.0.5) has MTU 1500: overlays get 1450; 1 VXLAN device(s) fit' });
  });
  test('a VXLAN device larger than underlay - 50: FAIL with the ip command', async () => {
    const probe = healthyProbe({ routeTowards: async () => ({ dev: 'eth0', mtu: 1400 }), links: async () => [{ name: 'tsnx-0123456789', kind: 'vxlan', mtu: 1450 }] });
    expect(await one(mtuCheck(context(probe, { etcd: ETCD })))).toMatchObject({ status: 'FAIL', fix: 'ip link set dev tsnx-0123456789 mtu 1350' });
  });
  test('an overlay network asking for more than fits: FAIL naming it', async () => {
    const nets = [network('ov', 'overlay', ['10.50.0.0/24'], { 'com.docker.network.driver.mtu': '1450' })];
    const probe = healthyProbe({ addressOwner: async () => ({ dev: 'ens3', mtu: 1450 }) });
    const result = await one(mtuCheck(context(probe, { vxlanLocalIp: '10.0.0.7' }, { networks: nets })));
    expect(result.status).toBe('FAIL');
    expect(result.message).toMatch(/ov \(mtu 1450\) ask for more than the 1400/);
  });
  test('--vxlan-local-ip not on this host: FAIL; etcd on loopback: SKIP', async () => {
    expect((await one(mtuCheck(context(healthyProbe({ addressOwner: async () => undefined }), { vxlanLocalIp: '10.9.9.9' })))).status).toBe('FAIL');
    expect((await one(mtuCheck(context(healthyProbe({ routeTowards: async () => ({ dev: 'lo', mtu: 65536 }) }), { etcd: ETCD })))).status).toBe('SKIP');
  });
});

describe('routes.conflicts', () => {
  const routes = [{ dst: 'default', dev: 'eth0' }, { dst: '10.20.0.0/24', dev: 'tsnb-0123456789' }, { dst: '192.168.1.0/24', dev: 'eth0' }];
  test('routes only through tsnet\'s own devices: PASS', async () => {
    const probe = healthyProbe({ routes: async () => routes });
    const result = await one(routesCheck(context(probe, {}, { networks: [network('app', 'bridge', ['10.20.0.0/24'])] })));
    expect(result).toMatchObject({ status: 'PASS' });
  });
  test('a route through another interface overlapping a subnet: FAIL naming the route', async () => {
    const probe = healthyProbe({ routes: async () => [...routes, { dst: '10.20.0.128/25', dev: 'eth1' }, { dst: '10.20.0.9', type: 'blackhole' }] });
    const result = await one(routesCheck(context(probe, {}, { networks: [network('app', 'bridge', ['10.20.0.0/24'])] })));
    expect(result.status).toBe('FAIL');
    expect(result.message).toMatch(/route "10.20.0.128\/25 dev eth1" overlaps 10.20.0.0\/24 of network app; route "blackhole 10.20.0.9" overlaps/);
    expect(result.fix).toBe('ip route del 10.20.0.128/25 dev eth1 && ip route del blackhole 10.20.0.9');
  });
  test('a macvlan network\'s LAN route on its own parent is not a conflict; IPv6 is compared too', async () => {
    const probe = healthyProbe({ routes: async () => [{ dst: '192.168.1.0/24', dev: 'eth0' }, { dst: 'fd00:1::/64', dev: 'eth2' }] });
    const nets = [network('lan', 'macvlan', ['192.168.1.0/24'], { parent: 'eth0' }), network('v6', 'bridge', ['fd00:1::/64'])];
    const result = await one(routesCheck(context(probe, {}, { networks: nets })));
    expect(result.message).toBe('route "fd00:1::/64 dev eth2" overlaps fd00:1::/64 of network v6: traffic for those containers leaves by the wrong interface (or recreate the network with another --subnet)');
  });
  test('Docker unreachable: SKIP; no networks: PASS', async () => {
    expect((await one(routesCheck(context(healthyProbe(), {}, { networks: undefined })))).status).toBe('SKIP');
    expect((await one(routesCheck(context(healthyProbe())))).status).toBe('PASS');
  });
});

describe('vxlan.port', () => {
  test('no peers known: SKIP, whether or not etcd is configured', async () => {
    expect((await one(vxlanPortCheck(context(healthyProbe())))).status).toBe('SKIP');
    expect((await one(vxlanPortCheck(context(healthyProbe(), { etcd: ETCD })))).message).toMatch(/etcd lists no other host's VTEP/);
  });
  test('only given addresses and other hosts\' VTEPs from etcd are probed, never this host\'s', async () => {
    const probed: string[] = [];
    const probe = healthyProbe({
      etcdVteps: async () => [{ network: 'ov', host: 'node-1', address: '10.0.0.7' }, { network: 'ov', host: 'node-2', address: '10.0.0.8' }],
      udpRefused: async (address) => { probed.push(address); return false; },
    });
    const result = await one(vxlanPortCheck(context(probe, { etcd: ETCD, vxlanPeers: ['10.0.0.9'] })));
    expect(probed).toEqual(['10.0.0.9', '10.0.0.8']);
    expect(result.status).toBe('PASS');
  });
  test('a peer refusing the port: FAIL naming it', async () => {
    const probe = healthyProbe({ udpRefused: async (address) => address === '10.0.0.9' });
    const result = await one(vxlanPortCheck(context(probe, { vxlanPeers: ['10.0.0.9', '10.0.0.10'] })));
    expect(result).toMatchObject({ status: 'FAIL', fix: 'on each of those hosts: iptables -I INPUT -p udp --dport 4789 -j ACCEPT' });
    expect(result.message).toMatch(/refused \("port unreachable"\) by 10.0.0.9 \(given\)/);
  });
  test('a probe error: WARN', async () => {
    const result = await one(vxlanPortCheck(context(healthyProbe({ udpRefused: async () => ({ error: 'ENETUNREACH' }) }), { vxlanPeers: ['10.0.0.9'] })));
    expect(result.status).toBe('WARN');
  });
});
