import { describe, expect, test } from 'vitest';
import { AddressSpace } from '../../../src/ipam/address-space.js';
import { IpamSync, type DockerIpamNetwork } from '../../../src/ipam/ipam-sync.js';
import { silentLog } from '../bridge/fixtures.js';
import { MemoryKvStore } from '../cnm/memory-kv.js';

function setup() {
  const store = new MemoryKvStore();
  const local = new AddressSpace('tsnet-local', false, store, 'host-a', silentLog);
  const global = new AddressSpace('tsnet-global', true, store, 'host-a', silentLog);
  const otherHost = new AddressSpace('tsnet-global', true, store, 'host-b', silentLog);
  let clock = Date.now();
  const actions: string[] = [];
  const sync = new IpamSync({ spaces: [local, global], ipamName: 'tsnet', log: silentLog, now: () => clock, onAction: (action, count) => actions.push(`${action} ×${count}`) });
  const docker = { networks: [] as DockerIpamNetwork[], containers: new Map<string, Array<{ ipv4: string; ipv6: string }>>() };
  const look = () => sync.converge({ networks: docker.networks, endpoints: async (id) => docker.containers.get(id) });
  return { store, local, global, otherHost, docker, look, actions, tick: (ms: number) => { clock += ms; } };
}

describe('IPAM convergence with Docker', () => {
  test('an address no Docker network shows is released after two looks a grace apart; the ones shown stay', async () => {
    const t = setup();
    const pool = await t.local.requestPool({ pool: '10.40.0.0/24', v6: false, options: {} });
    await t.local.requestAddress(pool, undefined, true); // .1, gateway
    await t.local.requestAddress(pool, '10.40.0.7', false); // a container's
    await t.local.requestAddress(pool, '10.40.0.9', false); // requested by a call Docker saw fail
    t.docker.networks.push({ id: 'n1', ipamDriver: 'tsnet', subnets: [{ subnet: '10.40.0.0/24', gateway: '10.40.0.1', aux: [] }] });
    t.docker.containers.set('n1', [{ ipv4: '10.40.0.7/24', ipv6: '' }]);
    expect(await t.look()).toMatchObject({ releasedAddresses: [], waiting: 1 });
    t.tick(30_000);
    expect(await t.look()).toMatchObject({ releasedAddresses: [], waiting: 1 });
    t.tick(31_000);
    expect(await t.look()).toMatchObject({ releasedAddresses: ['tsnet-local 10.40.0.9'], waiting: 0 });
    expect(t.actions).toEqual(['released-address ×1']); // told once, when released; never while waiting
    expect((await t.local.holdings())[0]?.addresses.map((a) => a.ip).sort()).toEqual(['10.40.0.1', '10.40.0.7']);
  });

  test('pool references beyond the Docker networks that use the pool are released; the last one removes the pool', async () => {
    const t = setup();
    await t.local.requestPool({ pool: '10.41.0.0/24', v6: false, options: {} });
    await t.local.requestPool({ pool: '10.41.0.0/24', v6: false, options: {} });
    t.docker.networks.push({ id: 'n1', ipamDriver: 'tsnet', subnets: [{ subnet: '10.41.0.0/24', aux: [] }] });
    await t.look();
    t.tick(61_000);
    expect((await t.look()).releasedReferences).toEqual(['tsnet-local 10.41.0.0/24 ×1']);
    expect((await t.local.holdings())[0]?.refs).toBe(1);
    t.docker.networks.length = 0;
    await t.look();
    t.tick(61_000);
    await t.look();
    expect(await t.local.holdings()).toEqual([]);
    expect(await t.store.list('ipam/v1/tsnet-local/pools/')).toEqual([]);
  });

  test('a network on another IPAM driver never counts, and other hosts\' holdings are never touched', async () => {
    const t = setup();
    const pool = await t.global.requestPool({ pool: '10.42.0.0/24', v6: false, options: {} });
    await t.otherHost.requestPool({ pool: '10.42.0.0/24', v6: false, options: {} });
    await t.otherHost.requestAddress(pool, '10.42.0.50', false);
    await t.global.requestAddress(pool, undefined, true);
    await t.otherHost.requestAddress(pool, undefined, true);
    t.docker.networks.push({ id: 'n1', ipamDriver: 'default', subnets: [{ subnet: '10.42.0.0/24', aux: [] }] });
    await t.look();
    t.tick(61_000);
    const report = await t.look();
    expect(report.releasedReferences).toEqual(['tsnet-global 10.42.0.0/24 ×1']);
    expect(report.releasedAddresses).toEqual(['tsnet-global 10.42.0.1 (shared gateway)']);
    expect(t.actions).toEqual(['released-pool-reference ×1', 'released-address ×1']);
    const b = await t.otherHost.holdings();
    expect(b).toMatchObject([{ pool: '10.42.0.0/24', refs: 1, sharedGateway: '10.42.0.1', addresses: [{ ip: '10.42.0.50' }] }]);
    expect(await t.global.holdings()).toEqual([]);
  });

  test('a gateway the IPAM chose (Docker does not show it) stays while a Docker network uses the pool', async () => {
    const t = setup();
    const pool = await t.local.requestPool({ pool: '10.44.0.0/24', v6: false, options: {} });
    await t.local.requestAddress(pool, undefined, true);
    t.docker.networks.push({ id: 'n1', ipamDriver: 'tsnet', subnets: [{ subnet: '10.44.0.0/24', aux: [] }] });
    await t.look();
    t.tick(61_000);
    expect((await t.look()).releasedAddresses).toEqual([]);
    t.docker.networks.length = 0;
    await t.look();
    t.tick(61_000);
    expect((await t.look()).releasedReferences).toEqual(['tsnet-local 10.44.0.0/24 ×1']);
  });

  test('an address that reappears in Docker before the grace is kept', async () => {
    const t = setup();
    const pool = await t.local.requestPool({ pool: '10.43.0.0/24', v6: false, options: {} });
    await t.local.requestAddress(pool, '10.43.0.5', false);
    t.docker.networks.push({ id: 'n1', ipamDriver: 'tsnet:latest', subnets: [{ subnet: '10.43.0.0/24', aux: [] }] });
    await t.look();
    t.tick(61_000);
    t.docker.containers.set('n1', [{ ipv4: '10.43.0.5/24', ipv6: '' }]);
    expect((await t.look()).releasedAddresses).toEqual([]);
    t.docker.containers.set('n1', []);
    expect((await t.look()).releasedAddresses).toEqual([]); // missing again: the clock restarts
  });
});
