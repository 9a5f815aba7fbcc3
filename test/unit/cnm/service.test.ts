import { describe, expect, test } from 'vitest';
import { createBridgeDriver } from '../../../drivers/bridge/index.js';
import { createNullDriver } from '../../../drivers/null/index.js';
import type { Driver } from '../../../drivers/driver.js';
import { CnmRepository } from '../../../src/cnm/repository.js';
import { reconcile } from '../../../src/cnm/reconcile.js';
import { NetworkService } from '../../../src/cnm/service.js';
import type { PortProbe } from '../../../src/cnm/ports.js';
import { linkName } from '../../../src/core/ids.js';
import type { NetworkType } from '../../../src/core/model.js';
import { RecordingFirewall } from '../../../src/host/firewall.js';
import { RecordingHostNet } from '../../../src/host/recording.js';
import { EP_1, EP_2, NET_A, NET_B, silentLog } from '../bridge/fixtures.js';
import { MemoryKvStore } from './memory-kv.js';

const pool = (subnet: string, gateway: string) => ({ addressSpace: 'LocalDefault', pool: subnet, gateway, auxAddresses: {} });
const netInput = (id = NET_A, subnet = '10.99.0.0/24', gateway = '10.99.0.1/24', options: Record<string, string> = {}) =>
  ({ id, ipv4: [pool(subnet, gateway)], ipv6: [], internal: false, enableIpv6: false, options });
const epInput = (id = EP_1, address = '10.99.0.2/24', networkId = NET_A) => ({ networkId, endpointId: id, address, exposedPorts: [] });
const tcp = (hostPort: number, port = 80, hostIp = '') => ({ proto: 'tcp' as const, port, hostIp, hostPort, hostPortEnd: hostPort });

function setup(probe: PortProbe = async () => 'free') {
  const store = new MemoryKvStore();
  const host = new RecordingHostNet();
  const firewall = new RecordingFirewall();
  const drivers = new Map<NetworkType, Driver>([['bridge', createBridgeDriver({ host, log: silentLog })]]);
  const repo = new CnmRepository(store);
  const service = new NetworkService({ repo, drivers, firewall, probe, log: silentLog, sandboxExists: () => true });
  const restart = () => {
    const repo2 = new CnmRepository(store);
    const service2 = new NetworkService({ repo: repo2, drivers, firewall, probe, log: silentLog, sandboxExists: () => true });
    const actions: string[] = [];
    return { repo: repo2, service: service2, actions, run: () => reconcile({ repo: repo2, service: service2, drivers, host, log: silentLog, onAction: (a) => actions.push(a) }) };
  };
  return { store, host, firewall, repo, service, restart };
}

describe('network lifecycle', () => {
  test('create, endpoint, join, publish, revoke, leave, delete: everything tsnet made is gone', async () => {
    const { host, firewall, repo, service } = setup();
    await service.createNetwork(netInput());
    expect(await service.createEndpoint(epInput())).toEqual({ macAddress: '02:74:0a:63:00:02' });
    const join = await service.join(NET_A, EP_1, '/var/run/docker/netns/s1');
    expect(join.srcName).toBe(linkName('p', EP_1));
    expect(repo.sandboxes()).toEqual([{ key: '/var/run/docker/netns/s1', endpointIds: [EP_1] }]);
    await service.programExternalConnectivity(NET_A, EP_1, [tcp(18080)]);
    expect(firewall.dump()).toMatch(/--dport 18080 .*-j DNAT --to-destination 10.99.0.2:80/);
    expect(service.endpointInfo(NET_A, EP_1).ports).toEqual([tcp(18080)]);
    await service.revokeExternalConnectivity(NET_A, EP_1);
    expect(firewall.dump()).not.toContain('DNAT');
    await service.leave(NET_A, EP_1);
    expect(repo.sandboxes()).toEqual([]);
    await service.deleteEndpoint(NET_A, EP_1);
    await service.deleteNetwork(NET_A);
    expect(await host.listLinks()).toEqual([]);
    expect(firewall.rules).toEqual([]);
    expect(repo.allNetworks()).toEqual([]);
  });

  test('a MAC chosen by Docker is kept and not returned', async () => {
    const { service, repo } = setup();
    await service.createNetwork(netInput());
    expect(await service.createEndpoint({ ...epInput(), mac: '02:42:0a:c7:05:c8' })).toEqual({});
    expect(repo.endpoint(NET_A, EP_1)?.mac).toBe('02:42:0a:c7:05:c8');
  });

  test('repeated calls are idempotent; a conflicting re-create is refused', async () => {
    const { service } = setup();
    await service.createNetwork(netInput());
    await service.createNetwork(netInput());
    await expect(service.createNetwork(netInput(NET_A, '10.98.0.0/24', '10.98.0.1/24'))).rejects.toThrow(/already exists with different settings/);
    await service.deleteNetwork(NET_A);
    await service.deleteNetwork(NET_A);
    await service.deleteEndpoint(NET_A, EP_1);
    await service.leave(NET_A, EP_1);
  });

  test('unknown network or endpoint gives an error that says what to do', async () => {
    const { service } = setup();
    await expect(service.createEndpoint(epInput())).rejects.toThrow(/tsnet has no network aaaaaaaaaaaa/);
    await service.createNetwork(netInput());
    await expect(service.join(NET_A, EP_2, '/x')).rejects.toThrow(/tsnet has no endpoint eeeeeeeeeeee on network aaaaaaaaaaaa/);
    await expect(service.createEndpoint(epInput(EP_1, '10.50.0.2/24'))).rejects.toThrow(/outside the network's subnets/);
  });

  test('an unknown network type is refused and nothing is stored', async () => {
    const { service, store, host } = setup();
    await expect(service.createNetwork(netInput(NET_A, '10.99.0.0/24', '10.99.0.1/24', { 'tsnet.type': 'overlay' }))).rejects.toMatchObject({ message: expect.stringMatching(/"tsnet.type": "overlay" is not available in this tsnet daemon/), hint: "use one of bridge, e.g. -o tsnet.type=bridge" });
    await expect(service.createNetwork(netInput(NET_A, '10.99.0.0/24', '10.99.0.1/24', { 'tsnet.type': 'weird' }))).rejects.toThrow(/is not a tsnet network type/);
    expect(await store.list('')).toEqual([]);
    expect(await host.listLinks()).toEqual([]);
  });

  test('a kernel failure in CreateNetwork leaves no record and no link', async () => {
    const { service, store, host } = setup();
    host.failOn = (op) => op.op === 'ensure-up';
    await expect(service.createNetwork(netInput())).rejects.toMatchObject({ code: 'TSNET_HOST_APPLY' });
    expect(await store.list('')).toEqual([]);
    expect(await host.listLinks()).toEqual([]);
  });

  test('a firewall failure rolls the network back', async () => {
    const { service, store, host, firewall } = setup();
    firewall.sync = async () => { throw new Error('iptables broke'); };
    await expect(service.createNetwork(netInput())).rejects.toThrow(/iptables broke/);
    expect(await store.list('')).toEqual([]);
    expect(await host.listLinks()).toEqual([]);
  });
});

describe('DeleteEndpoint answers before the kernel has finished removing the links', () => {
  /** A host whose `remove-link` waits until released, as a veth deletion waits ~20 ms for RCU. */
  function slowRemoval(host: RecordingHostNet) {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const apply = host.apply.bind(host);
    host.apply = async (op) => { if (op.op === 'remove-link') await gate; return apply(op); };
    return release;
  }

  test('the answer comes once the record is gone; the link goes after it, and the network\'s next call waits for that', async () => {
    const { host, repo, service } = setup();
    await service.createNetwork(netInput());
    await service.createEndpoint(epInput());
    const release = slowRemoval(host);
    const deleting = service.deleteEndpoint(NET_A, EP_1);
    await deleting; // answered while the link is still being removed
    expect(repo.endpoint(NET_A, EP_1)).toBeUndefined();
    expect((await host.listLinks()).map((l) => l.name)).toContain(linkName('v', EP_1));
    // The network's next call (here, an endpoint that reuses the address) runs only after the removal.
    const next = service.createEndpoint(epInput(EP_2, '10.99.0.2/24'));
    let nextDone = false;
    void next.then(() => { nextDone = true; });
    await new Promise((r) => setTimeout(r, 20));
    expect(nextDone).toBe(false);
    release();
    await deleting.removed;
    await next;
    const names = (await host.listLinks()).map((l) => l.name);
    expect(names).not.toContain(linkName('v', EP_1));
    expect(names).toContain(linkName('v', EP_2));
  });

  test('a removal that fails after the answer is logged and leaves a link start-up removes: nothing is lost', async () => {
    const { host, service, restart } = setup();
    await service.createNetwork(netInput());
    await service.createEndpoint(epInput());
    host.failOn = (op) => op.op === 'remove-link';
    await service.deleteEndpoint(NET_A, EP_1).removed;
    expect((await host.listLinks()).map((l) => l.name)).toContain(linkName('v', EP_1));
    host.failOn = undefined;
    const report = await restart().run();
    expect(report.leftoversRemoved).toContain(linkName('v', EP_1));
    expect((await host.listLinks()).map((l) => l.name)).not.toContain(linkName('v', EP_1));
  });

  test('a driver without linksOnlyTeardown answers only when its teardown is done', async () => {
    const { host } = setup();
    const bridge = createBridgeDriver({ host, log: silentLog });
    const drivers = new Map<NetworkType, Driver>([['bridge', { ...bridge, linksOnlyTeardown: false }]]);
    const strict = new NetworkService({ repo: new CnmRepository(new MemoryKvStore()), drivers, firewall: new RecordingFirewall(), probe: async () => 'free', log: silentLog, sandboxExists: () => true });
    await strict.createNetwork(netInput(NET_B, '10.98.0.0/24', '10.98.0.1/24'));
    await strict.createEndpoint(epInput(EP_1, '10.98.0.2/24', NET_B));
    const release = slowRemoval(host);
    let answered = false;
    const deleting = strict.deleteEndpoint(NET_B, EP_1).then(() => { answered = true; });
    await new Promise((r) => setTimeout(r, 20));
    expect(answered).toBe(false);
    release();
    await deleting;
    expect((await host.listLinks()).map((l) => l.name)).not.toContain(linkName('v', EP_1));
  });

  test('with withdrawEndpoint (the overlay): Docker is answered after it and before the links go and before the links go; a failed withdrawal fails the call and keeps the record', async () => {
    const { host } = setup();
    const bridge = createBridgeDriver({ host, log: silentLog });
    const steps: string[] = [];
    let failWithdraw = false;
    const withdrawing: Driver = {
      ...bridge,
      withdrawEndpoint: async (_network, endpoint) => {
        await new Promise((r) => setTimeout(r, 10));
        if (failWithdraw) throw new Error('etcd unreachable');
        steps.push(`withdraw ${endpoint.id}`);
      },
      deleteEndpoint: async (network, endpoint) => { steps.push(`links ${endpoint.id}`); await bridge.deleteEndpoint(network, endpoint); },
    };
    const repo = new CnmRepository(new MemoryKvStore());
    const service = new NetworkService({ repo, drivers: new Map<NetworkType, Driver>([['bridge', withdrawing]]), firewall: new RecordingFirewall(), probe: async () => 'free', log: silentLog, sandboxExists: () => true });
    await service.createNetwork(netInput(NET_B, '10.98.0.0/24', '10.98.0.1/24'));
    await service.createEndpoint(epInput(EP_1, '10.98.0.2/24', NET_B));
    await service.createEndpoint(epInput(EP_2, '10.98.0.3/24', NET_B));
    const release = slowRemoval(host);
    const deleting = service.deleteEndpoint(NET_B, EP_1);
    await deleting;
    expect(steps).toEqual([`withdraw ${EP_1}`, `links ${EP_1}`]);
    expect((await host.listLinks()).map((l) => l.name)).toContain(linkName('v', EP_1)); // still going
    release();
    await deleting.removed;
    failWithdraw = true;
    await expect(service.deleteEndpoint(NET_B, EP_2)).rejects.toThrow(/etcd unreachable/);
    expect(repo.endpoint(NET_B, EP_2)).toBeDefined();
    expect((await host.listLinks()).map((l) => l.name)).toContain(linkName('v', EP_2));
  });
});

describe('subnets routed on this host', () => {
  test('a network that routes its subnets here is refused when one overlaps another such network\'s, whichever type was first; a network that routes nothing is not', async () => {
    const host = new RecordingHostNet();
    // "overlay" stands for any other type that may route (an overlay with a local gateway): here when not --internal.
    const routing: Driver = { ...createNullDriver({ host, log: silentLog }), type: 'overlay', routesSubnets: (n) => !n.internal };
    const drivers = new Map<NetworkType, Driver>([['bridge', createBridgeDriver({ host, log: silentLog })], ['overlay', routing], ['null', createNullDriver({ host, log: silentLog })]]);
    const service = new NetworkService({ repo: new CnmRepository(new MemoryKvStore()), drivers, firewall: new RecordingFirewall(), probe: async () => 'free', log: silentLog, sandboxExists: () => true });
    const NET_C = 'c'.repeat(64);
    const NET_D = 'd'.repeat(64);
    await service.createNetwork(netInput(NET_A, '10.50.0.0/24', '10.50.0.1/24', { 'tsnet.type': 'overlay' }));
    await expect(service.createNetwork(netInput(NET_B, '10.50.0.128/25', '10.50.0.129/25')))
      .rejects.toMatchObject({ code: 'TSNET_SUBNET_OVERLAP', message: expect.stringMatching(/subnet 10.50.0.128\/25 overlaps 10.50.0.0\/24 of tsnet network aaaaaaaaaaaa on this host/) });
    await service.createNetwork(netInput(NET_C, '10.50.0.0/24', '10.50.0.1/24', { 'tsnet.type': 'null' }));
    await service.createNetwork({ ...netInput(NET_D, '10.50.0.0/24', '10.50.0.1/24', { 'tsnet.type': 'overlay' }), internal: true });
    await service.createNetwork(netInput(NET_B, '10.51.0.0/24', '10.51.0.1/24'));
  });
});

describe('published ports', () => {
  test('a host port taken by another tsnet endpoint is refused, naming it', async () => {
    const { service } = setup();
    await service.createNetwork(netInput());
    await service.createEndpoint(epInput(EP_1));
    await service.createEndpoint(epInput(EP_2, '10.99.0.3/24'));
    await service.join(NET_A, EP_1, '/var/run/docker/netns/s1');
    await service.join(NET_A, EP_2, '/var/run/docker/netns/s2');
    await service.programExternalConnectivity(NET_A, EP_1, [tcp(18080)]);
    await expect(service.programExternalConnectivity(NET_A, EP_2, [tcp(18080, 81)])).rejects.toThrow(/host port 18080\/tcp is already published by tsnet endpoint eeeeeeeeeeee on network aaaaaaaaaaaa/);
    // Different protocol or a distinct host address is fine.
    await service.programExternalConnectivity(NET_A, EP_2, [{ ...tcp(18080), proto: 'udp' }]);
  });

  test('a port held by another program is refused; ranges pick the first free port; 0 picks an ephemeral one', async () => {
    const busy = new Set([18081, 49153]);
    const { service } = setup(async (_p, _ip, port) => (busy.has(port) ? 'in-use' : 'free'));
    await service.createNetwork(netInput());
    await service.createEndpoint(epInput());
    await service.join(NET_A, EP_1, '/var/run/docker/netns/s1');
    await expect(service.programExternalConnectivity(NET_A, EP_1, [tcp(18081)])).rejects.toThrow(/host port 18081\/tcp is in use by another program/);
    await service.programExternalConnectivity(NET_A, EP_1, [{ ...tcp(18081), hostPortEnd: 18085 }, { ...tcp(0, 90), hostPortEnd: 0 }]);
    expect(service.endpointInfo(NET_A, EP_1).ports.map((p) => p.hostPort)).toEqual([18082, 49154]);
  });

  test('a host IP the host does not have is refused', async () => {
    const { service } = setup(async () => 'no-such-address');
    await service.createNetwork(netInput());
    await service.createEndpoint(epInput());
    await service.join(NET_A, EP_1, '/var/run/docker/netns/s1');
    await expect(service.programExternalConnectivity(NET_A, EP_1, [tcp(18080, 80, '203.0.113.9')])).rejects.toThrow(/host IP 203.0.113.9 .* is not an address of this host/);
  });
});

describe('restart and reconciliation', () => {
  test('state survives a restart and the kernel is rebuilt from it', async () => {
    const { service, host, restart } = setup();
    await service.createNetwork(netInput());
    await service.createEndpoint(epInput());
    await service.join(NET_A, EP_1, '/var/run/docker/netns/s1');
    await service.programExternalConnectivity(NET_A, EP_1, [tcp(18080)]);
    // The bridge deleted behind tsnet's back, plus a leftover tsnet link nobody owns.
    await host.apply({ op: 'remove-link', name: linkName('b', NET_A) });
    await host.apply({ op: 'ensure-bridge', name: linkName('b', NET_B), mtu: 1500 });
    const after = restart();
    const report = await after.run();
    expect(report).toMatchObject({ networks: 1, endpoints: 1, leftoversRemoved: [linkName('b', NET_B)] });
    expect(after.actions).toEqual(['restored-network', 'removed-leftover-link', 'rewrote-firewall']);
    const names = (await host.listLinks()).map((l) => l.name).sort();
    expect(names).toEqual([linkName('b', NET_A), linkName('p', EP_1), linkName('v', EP_1)].sort());
    expect(after.service.endpointInfo(NET_A, EP_1).ports).toEqual([tcp(18080)]);
  });

  test('records left pending by a crash are rolled back at start-up', async () => {
    const { service, repo, host, restart } = setup();
    await service.createNetwork(netInput());
    const network = repo.network(NET_A);
    if (!network) throw new Error('network missing');
    await repo.saveNetwork({ ...network, id: NET_B, state: 'pending', driverState: { ...network.driverState, bridge: linkName('b', NET_B) } });
    await host.apply({ op: 'ensure-bridge', name: linkName('b', NET_B), mtu: 1500 });
    const after = restart();
    const report = await after.run();
    expect(report.rolledBack).toBe(1);
    expect(after.actions).toEqual(['restored-network', 'rolled-back-network', 'rewrote-firewall']);
    expect(after.repo.network(NET_B)).toBeUndefined();
    expect(await host.getLink(linkName('b', NET_B))).toBeUndefined();
  });
});
