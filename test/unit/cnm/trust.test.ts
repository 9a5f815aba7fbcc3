import { describe, expect, test } from 'vitest';
import { createBridgeDriver } from '../../../drivers/bridge/index.js';
import type { Driver } from '../../../drivers/driver.js';
import type { KvStore } from '../../../kvstore/kvstore.js';
import { reconcile } from '../../../src/cnm/reconcile.js';
import { CnmRepository } from '../../../src/cnm/repository.js';
import { NetworkService, type ReplyWatch } from '../../../src/cnm/service.js';
import { linkName } from '../../../src/core/ids.js';
import type { NetworkType } from '../../../src/core/model.js';
import { RecordingFirewall } from '../../../src/host/firewall.js';
import { RecordingHostNet } from '../../../src/host/recording.js';
import { EP_1, EP_2, NET_A, NET_B, silentLog } from '../bridge/fixtures.js';
import { MemoryKvStore } from './memory-kv.js';

const pool = (subnet: string, gateway?: string) => ({ addressSpace: 'LocalDefault', pool: subnet, gateway, auxAddresses: {} });
const netInput = (id: string, subnet = '10.99.0.0/24', gateway: string | undefined = '10.99.0.1/24', options: Record<string, string> = {}) =>
  ({ id, ipv4: [pool(subnet, gateway)], ipv6: [], internal: false, enableIpv6: false, options });
const tcp = (hostPort: number, port = 80, hostIp = '') => ({ proto: 'tcp' as const, port, hostIp, hostPort, hostPortEnd: hostPort });
const netId = (n: number) => `${String(n).padStart(4, '0')}${'c'.repeat(60)}`;

/** A store whose every operation takes a random few milliseconds, as a disk does. */
function slowStore(inner: KvStore): KvStore {
  const later = () => new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || !['get', 'list', 'put', 'delete', 'txn'].includes(String(prop))) return value;
      return async (...args: unknown[]) => {
        await later();
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** A reply that either reaches Docker (deliver()) or never does (a crash, a client gone). */
function replyWatch(): ReplyWatch & { deliver(): void } {
  const listeners: Array<() => void> = [];
  return { onDelivered: (l) => listeners.push(l), deliver: () => listeners.forEach((l) => l()) };
}

function setup(store: KvStore = new MemoryKvStore()) {
  const host = new RecordingHostNet();
  /** Sandboxes that exist (container namespaces); a test removes one to model a container gone. */
  const sandboxes = new Set(['/x', '/y', '/var/run/docker/netns/x']);
  const firewall = new RecordingFirewall();
  const drivers = new Map<NetworkType, Driver>([['bridge', createBridgeDriver({ host, log: silentLog })]]);
  /** Real time, moved on by tick(): records carry real times. */
  let ahead = 0;
  const make = () => {
    const repo = new CnmRepository(store);
    const service = new NetworkService({ repo, drivers, firewall, probe: async () => 'free', log: silentLog, sandboxExists: (key) => sandboxes.has(key), now: () => Date.now() + ahead });
    return { repo, service, reconcile: () => reconcile({ repo, service, drivers, host, log: silentLog }) };
  };
  return { store, host, firewall, sandboxes, tick: (ms: number) => { ahead += ms; }, ...make(), restart: make };
}

describe('races', () => {
  test('8 parallel creates with overlapping subnets: exactly one is accepted, 50 rounds', async () => {
    for (let round = 0; round < 50; round++) {
      const { service, repo } = setup(slowStore(new MemoryKvStore()));
      const subnets = ['10.132.0.0/16', ...Array.from({ length: 7 }, (_, n) => `10.132.${n}.0/24`)];
      if (round % 2 === 1) subnets.fill('10.131.0.0/24');
      const results = await Promise.allSettled(subnets.map((subnet, n) => service.createNetwork(netInput(netId(n), subnet, subnet.replace(/0\/(\d+)$/, '1/$1')))));
      const accepted = results.filter((r) => r.status === 'fulfilled');
      expect(accepted, `round ${round}: ${results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok')).join(' / ')}`).toHaveLength(1);
      expect(repo.allNetworks()).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(String(r.reason)).toMatch(/overlaps/);
    }
  });
});

describe('Docker\'s bridge options through the service', () => {
  test('host_binding_ipv4: a port published without a host IP is published on that address only', async () => {
    const { service, repo, firewall } = setup();
    await service.createNetwork(netInput(NET_A, '10.99.0.0/24', '10.99.0.1/24', { 'com.docker.network.bridge.host_binding_ipv4': '127.0.0.1' }));
    await service.createEndpoint({ networkId: NET_A, endpointId: EP_1, address: '10.99.0.2/24', exposedPorts: [] });
    await service.join(NET_A, EP_1, '/x');
    await service.programExternalConnectivity(NET_A, EP_1, [tcp(8080), tcp(8443, 443, '0.0.0.0')]);
    expect(repo.endpoint(NET_A, EP_1)?.ports.map((p) => `${p.hostIp}:${p.hostPort}`)).toEqual(['127.0.0.1:8080', '0.0.0.0:8443']);
    expect(firewall.dump()).toMatch(/-d 127\.0\.0\.1\/32 -p tcp -m tcp --dport 8080 .*-j DNAT --to-destination 10\.99\.0\.2:80/);
  });

  test('gateway_mode_ipv4=routed: a published port takes no host port, so two containers may both say -p 8080:80 (as with Docker); a nat network still refuses', async () => {
    const probed: number[] = [];
    const { repo, firewall } = setup();
    const probing = new NetworkService({ repo, drivers: new Map([['bridge', createBridgeDriver({ host: new RecordingHostNet(), log: silentLog })]]), firewall, probe: async (_proto, _ip, port) => { probed.push(port); return 'free'; }, log: silentLog, sandboxExists: () => true });
    await probing.createNetwork(netInput(NET_A, '10.99.0.0/24', '10.99.0.1/24', { 'com.docker.network.bridge.gateway_mode_ipv4': 'routed' }));
    await probing.createNetwork(netInput(NET_B, '10.98.0.0/24', '10.98.0.1/24'));
    for (const [ep, address] of [[EP_1, '10.99.0.2/24'], [EP_2, '10.99.0.3/24']] as const) {
      await probing.createEndpoint({ networkId: NET_A, endpointId: ep, address, exposedPorts: [] });
      await probing.join(NET_A, ep, '/x');
      await probing.programExternalConnectivity(NET_A, ep, [tcp(8080)]);
      expect(repo.endpoint(NET_A, ep)?.ports).toEqual([{ ...tcp(0), port: 80 }]);
    }
    expect(probed).toEqual([]);
    expect(firewall.dump(4)).toMatch(/-d 10\.99\.0\.3\/32 -o \S+ -p tcp -m tcp --dport 80 .*-j ACCEPT/);
    expect(firewall.dump(4)).not.toContain('DNAT');
    // Control: on a nat network the same host port is taken once.
    const nat = ['e'.repeat(64), 'f'.repeat(64)];
    for (const [n, ep] of nat.entries()) {
      await probing.createEndpoint({ networkId: NET_B, endpointId: ep, address: `10.98.0.${n + 2}/24`, exposedPorts: [] });
      await probing.join(NET_B, ep, '/y');
    }
    await probing.programExternalConnectivity(NET_B, nat[0] as string, [tcp(8080)]);
    await expect(probing.programExternalConnectivity(NET_B, nat[1] as string, [tcp(8080)])).rejects.toThrow(/8080\/tcp is already published/);
    expect(probed).toEqual([8080]);
  });
});

describe('gateways per family (dockerd 29 re-sends ProgramExternalConnectivity when they change)', () => {
  test('the IPv4 gateway only: IPv4 ports alone; re-sent as the gateway of both: both; re-sending changes nothing', async () => {
    const { service, repo, firewall } = setup();
    await service.createNetwork({ ...netInput(NET_A), ipv6: [pool('fd00:99::/64', 'fd00:99::1/64')], enableIpv6: true });
    await service.createEndpoint({ networkId: NET_A, endpointId: EP_1, address: '10.99.0.2/24', addressV6: 'fd00:99::2/64', exposedPorts: [] });
    await service.join(NET_A, EP_1, '/x');
    const dnat = (family: 4 | 6) => firewall.dump(family).split('\n').filter((l) => l.includes('-j DNAT'));
    await service.programExternalConnectivity(NET_A, EP_1, [tcp(8080)], undefined, 'ipv4');
    expect(repo.endpoint(NET_A, EP_1)?.ports.map((p) => p.hostIp)).toEqual(['0.0.0.0']);
    expect([dnat(4).length, dnat(6).length]).toEqual([1, 0]);
    await service.programExternalConnectivity(NET_A, EP_1, [tcp(8080)]);
    expect([dnat(4).length, dnat(6).length]).toEqual([1, 1]);
    const before = [firewall.dump(4), firewall.dump(6)];
    await service.programExternalConnectivity(NET_A, EP_1, [tcp(8080)]);
    expect([firewall.dump(4), firewall.dump(6)]).toEqual(before);
    // An IPv6 host address is never used by the IPv4-only gateway.
    await service.programExternalConnectivity(NET_A, EP_1, [tcp(8080, 80, '::1')], undefined, 'ipv4');
    expect(repo.endpoint(NET_A, EP_1)?.ports).toEqual([]);
    expect([dnat(4).length, dnat(6).length]).toEqual([0, 0]);
  });
});

describe('IPv6-only networks (docker network create --ipv4=false --ipv6, Docker 28+)', () => {
  test('bridge with only the IPv6 gateway, IPv6 forwarding, ports published on IPv6 only', async () => {
    const { service, repo, firewall, host } = setup();
    await service.createNetwork({ ...netInput(NET_A), ipv4: [], ipv6: [pool('fd00:98::/64', 'fd00:98::1/64')], enableIpv6: true, options: { 'com.docker.network.enable_ipv4': 'false', 'com.docker.network.enable_ipv6': 'true' } });
    const plan = host.dump();
    expect(plan).toContain('fd00:98::1/64');
    expect(plan).toContain('net/ipv6/conf/all/forwarding');
    expect(plan).not.toContain('net/ipv4/ip_forward');
    await service.createEndpoint({ networkId: NET_A, endpointId: EP_1, addressV6: 'fd00:98::2/64', exposedPorts: [] });
    const join = await service.join(NET_A, EP_1, '/x');
    expect(join).toMatchObject({ gateway: undefined, gatewayV6: 'fd00:98::1' });
    await service.programExternalConnectivity(NET_A, EP_1, [tcp(8080)]);
    expect(repo.endpoint(NET_A, EP_1)?.ports).toHaveLength(1);
    expect(firewall.dump(4)).toBe('');
    expect(firewall.dump(6)).toContain('-j DNAT --to-destination [fd00:98::2]:80');
    await expect(service.programExternalConnectivity(NET_A, EP_1, [tcp(8081, 80, '127.0.0.1')])).rejects.toThrow(/publishes on an IPv4 address, but the container has no IPv4 address/);
  });
});

describe('bad input changes nothing', () => {
  test.each(['+', 'e+', '!', '-', '--help', '-j', '!x', 'a;reboot', 'a b', 'x/y', '..', 'sixteen-bytes-xx'])('bridge name %j is refused before anything is created', async (name) => {
    const { service, store, host, firewall } = setup();
    await expect(service.createNetwork(netInput(NET_A, '10.99.0.0/24', '10.99.0.1/24', { 'com.docker.network.bridge.name': name })))
      .rejects.toThrow(/network option "com.docker.network.bridge.name"/);
    expect(await store.list('')).toEqual([]);
    expect(await host.listLinks()).toEqual([]);
    expect(firewall.syncs).toBe(0);
  });

  test('an IPv6 pool among the IPv4 pools is refused before anything is created', async () => {
    const { service, store, host, firewall } = setup();
    await expect(service.createNetwork({ ...netInput(NET_A), ipv4: [pool('fd00:1::/64', 'fd00:1::1/64')] })).rejects.toThrow(/is an IPv6 subnet but arrived among the IPv4 pools/);
    expect(await store.list('')).toEqual([]);
    expect(await host.listLinks()).toEqual([]);
    expect(firewall.syncs).toBe(0);
  });

  test('CreateEndpoint repeated with another address is refused; the same one is idempotent', async () => {
    const { service, repo } = setup();
    await service.createNetwork(netInput(NET_A));
    await service.createEndpoint({ networkId: NET_A, endpointId: EP_1, address: '10.99.0.2/24', exposedPorts: [] });
    await expect(service.createEndpoint({ networkId: NET_A, endpointId: EP_1, address: '10.99.0.9/24', exposedPorts: [] })).rejects.toThrow(/already exists on network aaaaaaaaaaaa with different settings \(10.99.0.2\/24 02:74:0a:63:00:02, asked: 10.99.0.9\/24\)/);
    await service.createEndpoint({ networkId: NET_A, endpointId: EP_1, address: '10.99.0.2/24', exposedPorts: [] });
    expect(repo.endpoint(NET_A, EP_1)?.address).toBe('10.99.0.2/24');
  });

  test('two endpoints may not share an address in one network', async () => {
    const { service, host } = setup();
    await service.createNetwork(netInput(NET_A));
    await service.createEndpoint({ networkId: NET_A, endpointId: EP_1, address: '10.99.0.2/24', exposedPorts: [] });
    await expect(service.createEndpoint({ networkId: NET_A, endpointId: EP_2, address: '10.99.0.2/24', exposedPorts: [] })).rejects.toThrow(/address 10.99.0.2 is already used by endpoint eeeeeeeeeeee/);
    expect(await host.getLink(linkName('v', EP_2))).toBeUndefined();
  });

  test('ports: an IPv6 host IP for an IPv4-only container, and an endpoint never joined, are refused; nothing is reported', async () => {
    const { service, firewall } = setup();
    await service.createNetwork(netInput(NET_A));
    await service.createEndpoint({ networkId: NET_A, endpointId: EP_1, address: '10.99.0.2/24', exposedPorts: [] });
    await expect(service.programExternalConnectivity(NET_A, EP_1, [tcp(8080)])).rejects.toThrow(/is not joined to a container/);
    await service.join(NET_A, EP_1, '/var/run/docker/netns/x');
    await expect(service.programExternalConnectivity(NET_A, EP_1, [tcp(8080, 80, '::1')])).rejects.toThrow(/-p \[::1\]:8080:80\/tcp publishes on an IPv6 address, but the container has no IPv6 address/);
    expect(service.endpointInfo(NET_A, EP_1).ports).toEqual([]);
    expect(firewall.dump()).not.toContain('DNAT');
  });
});

describe('sequences Docker never makes', () => {
  test('Join into a second sandbox, or after Leave, is refused; a repeated Join and a Leave without Join change nothing', async () => {
    const { service, repo, store } = setup();
    await service.createNetwork(netInput(NET_A));
    await service.createEndpoint({ networkId: NET_A, endpointId: EP_1, address: '10.99.0.2/24', exposedPorts: [] });
    const before = JSON.stringify(await store.list(''));
    await service.leave(NET_A, EP_1);
    expect(JSON.stringify(await store.list(''))).toBe(before);
    await service.join(NET_A, EP_1, '/x');
    await service.join(NET_A, EP_1, '/x');
    await expect(service.join(NET_A, EP_1, '/y')).rejects.toThrow(/is already joined to sandbox \/x/);
    await service.leave(NET_A, EP_1);
    await expect(service.join(NET_A, EP_1, '/x')).rejects.toThrow(/has left its sandbox and can only be deleted/);
    expect(repo.endpoint(NET_A, EP_1)?.sandboxKey).toBeUndefined();
  });

  test('the default check of a sandbox: gone only when Docker\'s netns directory is visible and the file is not in it', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(`${tmpdir()}/tsnet-sandbox-`);
    try {
      // Each container's end of its veth pair is in its sandbox, out of the host's sight.
      const host = new (class extends RecordingHostNet {
        override async getLink(name: string) {
          return eps.some(([id]) => name === linkName('p', id)) ? undefined : super.getLink(name);
        }
      })();
      const drivers = new Map<NetworkType, Driver>([['bridge', createBridgeDriver({ host, log: silentLog })]]);
      const repo = new CnmRepository(new MemoryKvStore());
      let clock = Date.now();
      const service = new NetworkService({ repo, drivers, firewall: new RecordingFirewall(), probe: async () => 'free', log: silentLog, now: () => clock });
      await service.createNetwork(netInput(NET_A));
      const eps = [[EP_1, `${dir}/live`], [EP_2, `${dir}/gone`], ['f'.repeat(64), '/nonexistent-dir/sandbox']] as const;
      await writeFile(`${dir}/live`, '');
      let n = 2;
      for (const [id, key] of eps) {
        await service.createEndpoint({ networkId: NET_A, endpointId: id, address: `10.99.0.${n++}/24`, exposedPorts: [] });
        await service.join(NET_A, id, key);
      }
      const stale = () => Promise.all(eps.map(([id]) => service.isStale({ networkId: NET_A, endpointId: id })));
      // Docker makes the file when the container starts, after Join: a missing one counts only later.
      expect(await stale()).toEqual([false, false, false]);
      clock += 31_000;
      expect(await stale()).toEqual([false, true, false]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('calls Docker never saw answered', () => {
  test('a network whose CreateNetwork reply never left does not block Docker\'s retry after a restart; it is removed', async () => {
    const first = setup();
    await first.service.createNetwork(netInput(NET_A), replyWatch()); // crash: reply never delivered
    const after = first.restart();
    await after.reconcile();
    expect(after.service.isDoubtful({ networkId: NET_A })).toBe(true);
    const retry = replyWatch();
    await after.service.createNetwork(netInput(NET_B), retry);
    retry.deliver();
    expect(after.repo.network(NET_A)).toBeUndefined();
    expect(await first.host.getLink(linkName('b', NET_A))).toBeUndefined();
    expect(await first.host.getLink(linkName('b', NET_B))).toBeDefined();
    expect(first.firewall.dump()).not.toContain('aaaaaaaaaaaa');
  });

  test('a network whose reply reached Docker keeps blocking an overlapping one after a restart, once Docker was seen to have it', async () => {
    const first = setup();
    const reply = replyWatch();
    await first.service.createNetwork(netInput(NET_A), reply);
    reply.deliver();
    await first.repo.flush();
    await new Promise((resolve) => setTimeout(resolve, 5)); // the restart comes strictly later
    const after = first.restart();
    await after.reconcile();
    after.service.seenByDocker([NET_A]);
    expect(after.service.isDoubtful({ networkId: NET_A })).toBe(false);
    await expect(after.service.createNetwork(netInput(NET_B))).rejects.toThrow(/overlaps 10.99.0.0\/24 of tsnet network aaaaaaaaaaaa/);
  });

  test('a network of an earlier run gives way when Docker\'s own IPAM hands its subnet out again, before any look at Docker', async () => {
    const first = setup();
    await first.service.createNetwork(netInput(NET_A));
    await new Promise((resolve) => setTimeout(resolve, 5));
    const after = first.restart();
    await after.reconcile();
    // Docker's default IPAM (LocalDefault) would have refused this subnet had it still held NET_A.
    await after.service.createNetwork(netInput(NET_B));
    expect(after.repo.network(NET_A)).toBeUndefined();
    expect(await first.host.getLink(linkName('b', NET_A))).toBeUndefined();
    // The same in a space that shares identical pools (tsnet's IPAM) proves nothing: refused.
    const tsnetPool = (id: string) => ({ ...netInput(id, '10.98.0.0/24', '10.98.0.1/24'), ipv4: [{ ...pool('10.98.0.0/24', '10.98.0.1/24'), addressSpace: 'tsnet-local' }] });
    await after.service.createNetwork(tsnetPool('c'.repeat(64)));
    await new Promise((resolve) => setTimeout(resolve, 5));
    const third = first.restart();
    await third.reconcile();
    await expect(third.service.createNetwork(tsnetPool('d'.repeat(64)))).rejects.toThrow(/overlaps 10.98.0.0\/24/);
    // And within one run, overlapping creates are refused whatever the space (no proof either).
    await third.service.createNetwork(netInput('e'.repeat(64), '10.97.0.0/24', '10.97.0.1/24'));
    await expect(third.service.createNetwork(netInput('f'.repeat(64), '10.97.0.0/25', '10.97.0.1/25'))).rejects.toThrow(/overlaps 10.97.0.0\/24/);
  });

  test('an endpoint whose container is gone (left, or its sandbox removed) gives way to a new one with its address and port', async () => {
    const { service, repo, sandboxes, firewall, host, tick } = setup();
    await service.createNetwork(netInput(NET_A));
    await service.createEndpoint({ networkId: NET_A, endpointId: EP_1, address: '10.99.0.2/24', exposedPorts: [] });
    await service.join(NET_A, EP_1, '/x');
    await service.programExternalConnectivity(NET_A, EP_1, [tcp(8080)]);
    // Docker removed the container while tsnet was down: its namespace is gone.
    sandboxes.delete('/x');
    tick(31_000);
    await service.createEndpoint({ networkId: NET_A, endpointId: EP_2, address: '10.99.0.2/24', exposedPorts: [] });
    await service.join(NET_A, EP_2, '/y');
    await service.programExternalConnectivity(NET_A, EP_2, [tcp(8080)]);
    expect(repo.endpoint(NET_A, EP_1)).toBeUndefined();
    expect(firewall.dump().match(/--dport 8080 .*-j DNAT/g)).toHaveLength(1);
    // Left (Leave done, DeleteEndpoint never arrived): the same.
    await service.leave(NET_A, EP_2);
    await service.createEndpoint({ networkId: NET_A, endpointId: 'f'.repeat(64), address: '10.99.0.2/24', exposedPorts: [] });
    expect(repo.endpoint(NET_A, EP_2)).toBeUndefined();
    // A joined endpoint whose veth is gone (its container's namespace took it) gives way too.
    await service.join(NET_A, 'f'.repeat(64), '/x3');
    sandboxes.add('/x3');
    await host.apply({ op: 'remove-link', name: linkName('v', 'f'.repeat(64)) });
    await service.createEndpoint({ networkId: NET_A, endpointId: 'b'.repeat(64), address: '10.99.0.2/24', exposedPorts: [] });
    expect(repo.endpoint(NET_A, 'f'.repeat(64))).toBeUndefined();
    await service.deleteEndpoint(NET_A, 'b'.repeat(64));
    await service.createEndpoint({ networkId: NET_A, endpointId: 'f'.repeat(64), address: '10.99.0.2/24', exposedPorts: [] });
    // A live joined endpoint is never displaced.
    await service.join(NET_A, 'f'.repeat(64), '/x2');
    sandboxes.add('/x2');
    await expect(service.createEndpoint({ networkId: NET_A, endpointId: 'a'.repeat(64), address: '10.99.0.2/24', exposedPorts: [] })).rejects.toThrow(/already used by endpoint ffffffffffff/);
  });

  test('a container still starting keeps its ports; a gone one loses them only to a request that names one', async () => {
    const { service, repo, sandboxes, tick } = setup();
    await service.createNetwork(netInput(NET_A));
    await service.createEndpoint({ networkId: NET_A, endpointId: EP_1, address: '10.99.0.2/24', exposedPorts: [] });
    // Docker makes the sandbox's file only when the container starts, after Join and its ports.
    await service.join(NET_A, EP_1, '/starting');
    await service.programExternalConnectivity(NET_A, EP_1, [tcp(8080), tcp(9090)]);
    await service.createEndpoint({ networkId: NET_A, endpointId: EP_2, address: '10.99.0.3/24', exposedPorts: [] });
    await service.join(NET_A, EP_2, '/y');
    await expect(service.programExternalConnectivity(NET_A, EP_2, [tcp(8080)])).rejects.toThrow(/8080\/tcp is already published by tsnet endpoint/);
    // Later the container is gone for good: only the port a new request names is taken from it.
    tick(31_000);
    await service.programExternalConnectivity(NET_A, EP_2, [tcp(8080)]);
    expect(repo.endpoint(NET_A, EP_1)?.ports).toEqual([]);
    await service.createEndpoint({ networkId: NET_A, endpointId: 'f'.repeat(64), address: '10.99.0.4/24', exposedPorts: [] });
    await service.join(NET_A, 'f'.repeat(64), '/y');
    sandboxes.delete('/y');
    tick(31_000);
    await service.programExternalConnectivity(NET_A, 'f'.repeat(64), [tcp(0)]);
    expect(repo.endpoint(NET_A, EP_2)?.ports).toHaveLength(1);
  });

  test('an endpoint never answered gives way to a new one with its address, and its published port too', async () => {
    const first = setup();
    await first.service.createNetwork(netInput(NET_A));
    await first.service.createEndpoint({ networkId: NET_A, endpointId: EP_1, address: '10.99.0.2/24', exposedPorts: [] });
    await first.service.join(NET_A, EP_1, '/x');
    await first.service.programExternalConnectivity(NET_A, EP_1, [tcp(8080)], replyWatch());
    const after = first.restart();
    await after.reconcile();
    await after.service.createEndpoint({ networkId: NET_A, endpointId: EP_2, address: '10.99.0.3/24', exposedPorts: [] });
    await after.service.join(NET_A, EP_2, '/y');
    await after.service.programExternalConnectivity(NET_A, EP_2, [tcp(8080)]);
    expect(after.service.endpointInfo(NET_A, EP_1).ports).toEqual([]);
    expect(first.firewall.dump().match(/--dport 8080 .*-j DNAT/g)).toHaveLength(1);
    // The endpoint itself stays until Docker is asked (docker-sync); its address gives way at once.
    const doubtful = replyWatch();
    await after.service.createEndpoint({ networkId: NET_A, endpointId: 'f'.repeat(64), address: '10.99.0.4/24', exposedPorts: [] }, doubtful);
    const third = first.restart();
    await third.reconcile();
    await third.service.createEndpoint({ networkId: NET_A, endpointId: 'd'.repeat(64), address: '10.99.0.4/24', exposedPorts: [] });
    expect(third.repo.endpoint(NET_A, 'f'.repeat(64))).toBeUndefined();
    expect(await first.host.getLink(linkName('v', 'f'.repeat(64)))).toBeUndefined();
  });

  test('an answer that arrives for an older call never clears the marker of a newer one', async () => {
    const { service, repo } = setup();
    await service.createNetwork(netInput(NET_A));
    const created = replyWatch();
    await service.createEndpoint({ networkId: NET_A, endpointId: EP_1, address: '10.99.0.2/24', exposedPorts: [] }, created);
    await service.join(NET_A, EP_1, '/x', replyWatch());
    created.deliver();
    await repo.flush();
    expect(repo.unansweredCall({ networkId: NET_A, endpointId: EP_1 })?.method).toBe('Join');
  });
});
