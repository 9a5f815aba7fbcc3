import { describe, expect, test, vi } from 'vitest';
import { createBridgeDriver } from '../../../drivers/bridge/index.js';
import type { Driver } from '../../../drivers/driver.js';
import { DockerSync, type DockerView } from '../../../src/cnm/docker-sync.js';
import { reconcile } from '../../../src/cnm/reconcile.js';
import { CnmRepository } from '../../../src/cnm/repository.js';
import { NetworkService, type ReplyWatch } from '../../../src/cnm/service.js';
import { linkName } from '../../../src/core/ids.js';
import type { NetworkType } from '../../../src/core/model.js';
import { RecordingFirewall } from '../../../src/host/firewall.js';
import { RecordingHostNet } from '../../../src/host/recording.js';
import { EP_1, EP_2, NET_A, NET_B, silentLog } from '../bridge/fixtures.js';
import { MemoryKvStore } from './memory-kv.js';

const netInput = (id: string, third: number) => ({ id, ipv4: [{ addressSpace: 'LocalDefault', pool: `10.99.${third}.0/24`, gateway: `10.99.${third}.1/24`, auxAddresses: {} }], ipv6: [], internal: false, enableIpv6: false, options: {} });
const epInput = (networkId: string, endpointId: string, third: number, last: number) => ({ networkId, endpointId, address: `10.99.${third}.${last}/24`, exposedPorts: [] });
const lost: ReplyWatch = { onDelivered: () => undefined };
const delivered = (): ReplyWatch & { deliver(): void } => {
  const ls: Array<() => void> = [];
  return { onDelivered: (l) => ls.push(l), deliver: () => ls.forEach((l) => l()) };
};

/** A dockerd as the Engine API shows it: networks by id, each with its attached endpoints. */
class FakeDocker implements DockerView {
  readonly description = 'fake';
  reachable = true;
  id = 'dockerd-1@host';
  readonly networks_ = new Map<string, Set<string>>();
  async networks() {
    if (!this.reachable) throw new Error('connect ENOENT /var/run/docker.sock');
    return [...this.networks_.keys()].map((id) => ({ id, name: `n-${id.slice(0, 4)}`, driver: 'tsnet', ipamDriver: 'default', subnets: [] }));
  }
  async endpoints(id: string) {
    const set = this.networks_.get(id);
    return set ? [...set].map((endpointId) => ({ endpointId, ipv4: '', ipv6: '' })) : undefined;
  }
  async identity() {
    return this.id;
  }
}

function setup() {
  const store = new MemoryKvStore();
  const host = new RecordingHostNet();
  const firewall = new RecordingFirewall();
  const drivers = new Map<NetworkType, Driver>([['bridge', createBridgeDriver({ host, log: silentLog })]]);
  const docker = new FakeDocker();
  const sandboxes = new Set(['/x']);
  let clock = Date.now(); // records carry real creation times
  const actions: string[] = [];
  const make = () => {
    const repo = new CnmRepository(store);
    const service = new NetworkService({ repo, drivers, firewall, probe: async () => 'free', log: silentLog, sandboxExists: (key) => sandboxes.has(key), now: () => clock });
    const sync = new DockerSync({ repo, service, docker, driverName: 'tsnet', log: silentLog, now: () => clock, onAction: (action) => actions.push(action) });
    return { repo, service, sync, start: () => reconcile({ repo, service, drivers, host, log: silentLog }) };
  };
  return { host, firewall, docker, sandboxes, actions, tick: (ms: number) => { clock += ms; }, ...make(), restart: make };
}

describe('convergence with Docker', () => {
  test('a network Docker never saw answered is removed at the first look after a restart', async () => {
    const t = setup();
    await t.service.createNetwork(netInput(NET_A, 1), lost);
    const after = t.restart();
    await after.start();
    const report = await after.sync.runOnce();
    expect(report.removedNetworks).toEqual([NET_A]);
    expect(t.actions).toEqual(['removed-orphan-network']);
    expect(after.repo.network(NET_A)).toBeUndefined();
    expect(await t.host.getLink(linkName('b', NET_A))).toBeUndefined();
  });

  test('a doubtful network Docker has is kept and stops being doubtful', async () => {
    const t = setup();
    await t.service.createNetwork(netInput(NET_A, 1), lost);
    t.docker.networks_.set(NET_A, new Set());
    const after = t.restart();
    await after.start();
    expect(after.service.isDoubtful({ networkId: NET_A })).toBe(true);
    expect(await after.sync.runOnce()).toMatchObject({ removedNetworks: [], confirmed: 1 });
    expect(t.actions).toEqual(['confirmed-record']);
    expect(after.service.isDoubtful({ networkId: NET_A })).toBe(false);
    expect(after.repo.network(NET_A)).toBeDefined();
  });

  test('a network removed in Docker while tsnet was down goes at the first look once older than the grace', async () => {
    const t = setup();
    const reply = delivered();
    await t.service.createNetwork(netInput(NET_A, 1), reply);
    await t.service.createNetwork(netInput(NET_B, 2));
    reply.deliver();
    await t.repo.flush();
    t.docker.networks_.set(NET_A, new Set());
    t.docker.networks_.set(NET_B, new Set());
    await t.sync.runOnce(); // Docker knows tsnet's networks: this dockerd is remembered
    t.docker.networks_.delete(NET_A);
    t.docker.networks_.delete(NET_B);
    t.tick(60_000);
    const after = t.restart();
    await after.start();
    expect([...(await after.sync.runOnce()).removedNetworks].sort()).toEqual([NET_A, NET_B].sort());
    expect(await t.host.listLinks()).toEqual([]);
    expect(t.firewall.rules).toEqual([]);
  });

  test('another dockerd (knows none of tsnet\'s networks, not the one remembered) removes nothing', async () => {
    const t = setup();
    await t.service.createNetwork(netInput(NET_A, 1));
    t.docker.networks_.set(NET_A, new Set());
    await t.sync.runOnce();
    t.docker.networks_.clear();
    t.docker.id = 'some-other-dockerd@elsewhere';
    t.tick(60_000);
    await t.sync.runOnce();
    t.tick(60_000);
    const report = await t.sync.runOnce();
    expect(report.removedNetworks).toEqual([]);
    expect(report.unverified).toEqual([expect.stringMatching(/^network aaaaaaaaaaaa/)]);
    expect(t.repo.network(NET_A)).toBeDefined();
  });

  test('while Docker cannot be asked nothing is removed and doubtful records are reported as suspected', async () => {
    const t = setup();
    await t.service.createNetwork(netInput(NET_A, 1), lost);
    t.docker.reachable = false;
    const after = t.restart();
    await after.start();
    const report = await after.sync.runOnce();
    expect(report).toMatchObject({ reachable: false, removedNetworks: [], suspected: ['network aaaaaaaaaaaa'] });
    expect(after.repo.network(NET_A)).toBeDefined();
    t.docker.reachable = true;
    expect((await after.sync.runOnce()).removedNetworks).toEqual([NET_A]);
  });

  test('endpoints: doubtful and unlisted goes at once; joined and unlisted after the grace; created but not joined waits longer', async () => {
    const t = setup();
    await t.service.createNetwork(netInput(NET_A, 1));
    t.docker.networks_.set(NET_A, new Set());
    await t.service.createEndpoint(epInput(NET_A, EP_1, 1, 2));
    await t.service.join(NET_A, EP_1, '/x');
    await t.service.createEndpoint(epInput(NET_A, EP_2, 1, 3));
    const ep3 = 'e'.repeat(63) + '3';
    await t.service.createEndpoint(epInput(NET_A, ep3, 1, 4), lost);
    const after = t.restart();
    await after.start();
    let report = await after.sync.runOnce();
    expect(report.removedEndpoints).toEqual([ep3]);
    t.tick(11_000);
    report = await after.sync.runOnce();
    expect(report.removedEndpoints).toEqual([EP_1]);
    expect(after.repo.endpoint(NET_A, EP_2)).toBeDefined();
    t.tick(60_000);
    report = await after.sync.runOnce();
    expect(report.removedEndpoints).toEqual([EP_2]);
    expect(after.repo.endpointsOf(NET_A)).toEqual([]);
    expect(t.actions).toEqual(['removed-orphan-endpoint', 'removed-orphan-endpoint', 'removed-orphan-endpoint']);
    expect((await t.host.listLinks()).map((l) => l.name)).toEqual([linkName('b', NET_A)]);
  });

  test('an endpoint Docker lists is never removed, however old', async () => {
    const t = setup();
    await t.service.createNetwork(netInput(NET_A, 1));
    await t.service.createEndpoint(epInput(NET_A, EP_1, 1, 2));
    await t.service.join(NET_A, EP_1, '/x');
    t.docker.networks_.set(NET_A, new Set([EP_1]));
    for (let i = 0; i < 5; i++) {
      t.tick(120_000);
      expect((await t.sync.runOnce()).removedEndpoints).toEqual([]);
    }
    expect(t.repo.endpoint(NET_A, EP_1)).toBeDefined();
  });

  test('networks of this driver that Docker has and tsnet lost are reported', async () => {
    const t = setup();
    t.docker.networks_.set('f'.repeat(64), new Set());
    expect((await t.sync.runOnce()).lost).toEqual(['n-ffff (ffffffffffff)']);
  });

  test('a network younger than the grace is left for a later look (Docker records it only after CreateNetwork returns)', async () => {
    const t = setup();
    await t.service.createNetwork(netInput(NET_A, 1));
    t.docker.networks_.set(NET_B, new Set());
    await t.service.createNetwork(netInput(NET_B, 2));
    await t.sync.runOnce();
    await t.service.createNetwork(netInput('c'.repeat(64), 3));
    expect(await t.sync.runOnce()).toMatchObject({ removedNetworks: [], waiting: ['network aaaaaaaaaaaa', 'network cccccccccccc'] });
    t.tick(11_000);
    expect([...(await t.sync.runOnce()).removedNetworks].sort()).toEqual([NET_A, 'c'.repeat(64)]);
  });

  test('an endpoint whose container is gone (left, or sandbox removed) goes at the first look', async () => {
    const t = setup();
    await t.service.createNetwork(netInput(NET_A, 1));
    t.docker.networks_.set(NET_A, new Set());
    await t.service.createEndpoint(epInput(NET_A, EP_1, 1, 2));
    await t.service.join(NET_A, EP_1, '/x');
    await t.service.createEndpoint(epInput(NET_A, EP_2, 1, 3));
    await t.service.join(NET_A, EP_2, '/gone');
    await t.service.leave(NET_A, EP_1);
    // A sandbox's file appears only when the container starts: right after Join it proves nothing.
    expect((await t.sync.runOnce()).removedEndpoints).toEqual([EP_1]);
    t.tick(31_000);
    expect((await t.sync.runOnce()).removedEndpoints).toEqual([EP_2]);
  });

  test('stop() ends a look that waits on Docker at once, abandons its request, and logs no failure', async () => {
    const t = setup();
    await t.service.createNetwork(netInput(NET_A, 1));
    // A dockerd that does not answer (it may wait 30 s for a plugin it cannot reach): only the abort ends the request.
    const signals: AbortSignal[] = [];
    t.docker.networks = (signal?: AbortSignal) => new Promise((_, reject) => {
      if (signal) signals.push(signal);
      signal?.addEventListener('abort', () => reject(new Error('aborted')));
    });
    const errors: unknown[] = [];
    const sync = new DockerSync({ repo: t.repo, service: t.service, docker: t.docker, driverName: 'tsnet', log: { ...silentLog, error: (...args: unknown[]) => errors.push(args), warn: (...args: unknown[]) => errors.push(args) } as unknown as typeof silentLog });
    sync.start();
    await vi.waitFor(() => expect(signals).toHaveLength(1));
    await sync.stop();
    expect(signals[0]?.aborted).toBe(true);
    expect(errors).toEqual([]);
    expect(t.repo.network(NET_A)).toBeDefined();
  });
});
