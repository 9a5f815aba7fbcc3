import { describe, expect, test } from 'vitest';
import { pino } from 'pino';
import type { DockerContainer, DockerContainers, DockerEvent } from '../../../src/docker/engine.js';
import { ContainerNames, type OverlayNaming } from '../../../src/names/container-names.js';
import { dnsNamesOf } from '../../../src/names/dns-names.js';
import { waitFor } from '../../support/exec.js';

const BLUE = 'net-blue';
const RED = 'net-red';
const BRIDGE = 'net-bridge';

/** A Docker whose containers the test sets; it counts inspects and lets the test send events. */
class FakeDocker implements DockerContainers {
  list: DockerContainer[] = [];
  /** Aliases only the inspect shows (as with Docker's list). */
  aliases = new Map<string, string[]>();
  inspects = 0;
  private emit?: (e: DockerEvent) => void;

  async containers(): Promise<DockerContainer[]> {
    return this.list.map((c) => ({ ...c, networks: c.networks.map((n) => ({ ...n, aliases: [] })) }));
  }

  /** docker_gwbridge's members: the only place Docker shows a container's address there. */
  gateway: Array<{ containerId: string; ipv4: string }> = [];

  async endpoints(network: string) {
    if (network !== 'docker_gwbridge') return undefined;
    return this.gateway.map((g) => ({ endpointId: `gw-${g.containerId}`, containerId: g.containerId, name: `gateway_${g.containerId}`, ipv4: `${g.ipv4}/16`, ipv6: '' }));
  }

  async container(id: string): Promise<DockerContainer | undefined> {
    this.inspects += 1;
    const c = this.list.find((x) => x.id === id);
    return c && { ...c, networks: c.networks.map((n) => ({ ...n, aliases: this.aliases.get(`${id}/${n.networkId}`) ?? [] })) };
  }

  events(_actions: readonly string[], onEvent: (e: DockerEvent) => void, signal: AbortSignal): Promise<void> {
    this.emit = onEvent;
    return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  }

  send(event: DockerEvent): void {
    this.emit?.(event);
  }
}

/** The overlay side: which networks are overlays, what was published, and names other hosts published. */
class FakeOverlay implements OverlayNaming {
  readonly published: Array<{ networkId: string; endpointId: string; names: readonly string[] }> = [];
  /** network id → name → addresses (what etcd holds for the whole overlay). */
  readonly remote = new Map<string, Map<string, string[]>>([[BLUE, new Map()], [RED, new Map()]]);
  accept = true;

  overlays(): ReadonlyMap<string, string> {
    return new Map([[BLUE, 'blue'], [RED, 'red']]);
  }

  async nameEndpoint(networkId: string, endpointId: string, names: readonly string[]): Promise<boolean> {
    if (!this.accept) return false;
    this.published.push({ networkId, endpointId, names });
    return true;
  }

  resolve(networkId: string, name: string) {
    const ips = this.remote.get(networkId)?.get(name);
    return ips ? { ipv4: ips.filter((ip) => !ip.includes(':')), ipv6: ips.filter((ip) => ip.includes(':')) } : undefined;
  }

  reverse(networkId: string, ip: string) {
    for (const [name, ips] of this.remote.get(networkId) ?? []) if (ips.includes(ip)) return name;
    return undefined;
  }
}

function attachment(networkId: string, networkName: string, endpointId: string, ipv4: string) {
  return { networkId, networkName, endpointId, ipv4, ipv6: '', aliases: [], dnsNames: [] };
}

function setup() {
  const docker = new FakeDocker();
  const overlay = new FakeOverlay();
  const names = new ContainerNames({ docker, overlay, log: pino({ level: 'silent' }), debounceMs: 1, rescanMs: 60_000 });
  docker.list = [
    { id: 'c-client', name: 'client', networks: [attachment(BLUE, 'blue-net', 'ep-client', '10.88.0.5')] },
    { id: 'c-web', name: 'Web', networks: [attachment(BLUE, 'blue-net', 'ep-web', '10.88.0.6'), attachment(BRIDGE, 'plain', 'ep-plain', '10.1.0.2')] },
    { id: 'c-lonely', name: 'lonely', networks: [attachment(BRIDGE, 'plain', 'ep-lonely', '10.1.0.3')] },
  ];
  docker.aliases.set(`c-web/${BLUE}`, ['www', 'c-web-short']);
  docker.gateway = [{ containerId: 'c-client', ipv4: '172.18.0.5' }, { containerId: 'c-lonely', ipv4: '172.18.0.7' }];
  return { docker, overlay, names };
}

describe('ContainerNames: names learned from Docker, published per overlay endpoint', () => {
  test('each overlay endpoint gets its container name and aliases, lower case; other networks get nothing', async () => {
    const { overlay, names } = setup();
    await names.rescan();
    expect(overlay.published).toEqual([
      { networkId: BLUE, endpointId: 'ep-client', names: ['client'] },
      { networkId: BLUE, endpointId: 'ep-web', names: ['web', 'c-web-short', 'www'] },
    ]);
  });

  test('a second look publishes nothing and inspects nothing when nothing changed; a rename is published', async () => {
    const { docker, overlay, names } = setup();
    await names.rescan();
    const inspects = docker.inspects;
    await names.rescan();
    expect(overlay.published).toHaveLength(2);
    expect(docker.inspects).toBe(inspects);
    docker.list = docker.list.map((c) => (c.id === 'c-web' ? { ...c, name: 'web2' } : c));
    await names.rescan();
    expect(overlay.published.at(-1)).toEqual({ networkId: BLUE, endpointId: 'ep-web', names: ['web2', 'c-web-short', 'www'] });
  });

  test('names that could not be published (no lease, endpoint not there yet) are tried again on the next look', async () => {
    const { overlay, names } = setup();
    overlay.accept = false;
    await names.rescan();
    expect(overlay.published).toEqual([]);
    overlay.accept = true;
    await names.rescan();
    expect(overlay.published).toHaveLength(2);
  });

  test('a Docker event makes it look again', async () => {
    const { docker, overlay, names } = setup();
    names.start();
    try {
      await waitFor(async () => overlay.published.length === 2, { what: 'the first look', timeoutMs: 5_000, intervalMs: 5 });
      docker.list.push({ id: 'c-new', name: 'new', networks: [attachment(RED, 'red', 'ep-new', '10.89.0.2')] });
      docker.send({ type: 'network', action: 'connect', id: RED });
      await waitFor(async () => overlay.published.some((p) => p.endpointId === 'ep-new'), { what: 'the event to be acted on', timeoutMs: 5_000, intervalMs: 5 });
      expect(overlay.published.at(-1)).toEqual({ networkId: RED, endpointId: 'ep-new', names: ['new'] });
    } finally {
      await names.stop();
    }
  });
});

describe('ContainerNames.lookup: what a container may resolve', () => {
  test('a container on an overlay resolves names of that overlay, from either of its addresses', async () => {
    const { overlay, names } = setup();
    overlay.remote.get(BLUE)?.set('db', ['10.88.0.9', 'fd00::9']);
    await names.rescan();
    const answer = { kind: 'found', ipv4: ['10.88.0.9'], ipv6: ['fd00::9'] };
    expect(names.lookup('db', '10.88.0.5')).toEqual(answer);
    // Docker's DNS forwards from the container's namespace: the query may leave by docker_gwbridge.
    expect(names.lookup('db', '172.18.0.5')).toEqual(answer);
    // name.network, by Docker's network name or the overlay's name.
    expect(names.lookup('db.blue-net', '10.88.0.5')).toEqual(answer);
    expect(names.lookup('db.blue', '10.88.0.5')).toEqual(answer);
  });

  test('names of an overlay the container is not on, unknown names and unknown askers are not ours (REFUSED: Docker asks its next server)', async () => {
    const { overlay, names } = setup();
    overlay.remote.get(RED)?.set('secret', ['10.89.0.9']);
    await names.rescan();
    expect(names.lookup('secret', '10.88.0.5')).toEqual({ kind: 'unknown' });
    expect(names.lookup('secret.red', '10.88.0.5')).toEqual({ kind: 'unknown' });
    expect(names.lookup('nothing', '10.88.0.5')).toEqual({ kind: 'unknown' });
    // Not attached to any overlay (even with an address on docker_gwbridge), or not a container at all.
    expect(names.lookup('secret', '10.1.0.3')).toEqual({ kind: 'unknown' });
    expect(names.lookup('secret', '172.18.0.7')).toEqual({ kind: 'unknown' });
    expect(names.lookup('secret', '198.19.10.1')).toEqual({ kind: 'unknown' });
  });

  test('two overlays with the same container name: each container gets the one on its own overlay', async () => {
    const { docker, overlay, names } = setup();
    overlay.remote.get(BLUE)?.set('web', ['10.88.0.6']);
    overlay.remote.get(RED)?.set('web', ['10.89.0.6']);
    docker.list.push({ id: 'c-red', name: 'redclient', networks: [attachment(RED, 'red', 'ep-red', '10.89.0.5')] });
    await names.rescan();
    expect(names.lookup('web', '10.88.0.5')).toEqual({ kind: 'found', ipv4: ['10.88.0.6'], ipv6: [] });
    expect(names.lookup('web', '10.89.0.5')).toEqual({ kind: 'found', ipv4: ['10.89.0.6'], ipv6: [] });
  });
});

describe('ContainerNames.reverse: PTR answers as Docker gives them for its own containers', () => {
  test('an address on an overlay of the asker answers NAME.NETWORK, by the Docker network name on this host', async () => {
    const { overlay, names } = setup();
    overlay.remote.get(BLUE)?.set('db', ['10.88.0.9', 'fd00::9']);
    await names.rescan();
    expect(names.reverse('10.88.0.9', '10.88.0.5')).toBe('db.blue-net');
    expect(names.reverse('fd00::9', '172.18.0.5')).toBe('db.blue-net');
  });

  test('an address on an overlay the asker is not on, an unknown address or asker: not ours', async () => {
    const { docker, overlay, names } = setup();
    overlay.remote.get(RED)?.set('secret', ['10.89.0.9']);
    docker.list.push({ id: 'c-red', name: 'redclient', networks: [attachment(RED, 'red', 'ep-red', '10.89.0.5')] });
    await names.rescan();
    expect(names.reverse('10.89.0.9', '10.88.0.5')).toBeUndefined();
    expect(names.reverse('10.89.0.9', '10.89.0.5')).toBe('secret.red');
    expect(names.reverse('10.88.0.200', '10.88.0.5')).toBeUndefined();
    expect(names.reverse('10.89.0.9', '198.19.10.1')).toBeUndefined();
    expect(names.reverse('10.89.0.9', '10.1.0.3')).toBeUndefined();
  });
});

describe('ContainerNames.prepare: a container that queries as it starts', () => {
  test('an unknown asker makes tsnet look at Docker before the answer; a stranger costs one look, not one per query', async () => {
    const { docker, overlay, names } = setup();
    overlay.remote.get(BLUE)?.set('db', ['10.88.0.9']);
    await names.rescan();
    // Started after the last look: its first query must not be refused.
    docker.list.push({ id: 'c-fresh', name: 'fresh', networks: [attachment(BLUE, 'blue-net', 'ep-fresh', '10.88.0.7')] });
    expect(names.lookup('db', '10.88.0.7')).toEqual({ kind: 'unknown' });
    const waiting = names.prepare('10.88.0.7');
    expect(waiting).toBeInstanceOf(Promise);
    await waiting;
    expect(names.lookup('db', '10.88.0.7')).toEqual({ kind: 'found', ipv4: ['10.88.0.9'], ipv6: [] });
    // Known now: nothing to wait for.
    expect(names.prepare('10.88.0.7')).toBeUndefined();
    // An address no container has: a few looks within the wait, then none for a while however often it asks.
    let looks = 0;
    const list = docker.containers.bind(docker);
    docker.containers = async () => { looks += 1; return list(); };
    await names.prepare('198.19.10.1');
    const spent = looks;
    expect(spent).toBeGreaterThan(1);
    expect(spent).toBeLessThanOrEqual(6);
    expect(names.prepare('198.19.10.1')).toBeUndefined();
    expect(names.prepare('198.19.10.1')).toBeUndefined();
    expect(looks).toBe(spent);
  });

  test('an address dockerd lists only a moment after the container started (dockerd 28.5) is still learned before the answer', async () => {
    const { docker, overlay, names } = setup();
    overlay.remote.get(BLUE)?.set('db', ['10.88.0.9']);
    await names.rescan();
    docker.list.push({ id: 'c-late', name: 'late', networks: [attachment(BLUE, 'blue-net', 'ep-late', '10.88.0.8')] });
    // The first look after the query does not show the container's docker_gwbridge address yet.
    let looks = 0;
    const endpoints = docker.endpoints.bind(docker);
    docker.endpoints = async (network: string) => {
      looks += 1;
      if (looks >= 2) docker.gateway.push({ containerId: 'c-late', ipv4: '172.18.0.8' });
      return endpoints(network);
    };
    await names.prepare('172.18.0.8');
    expect(names.lookup('db', '172.18.0.8')).toEqual({ kind: 'found', ipv4: ['10.88.0.9'], ipv6: [] });
  });
});

describe('ContainerNames.prepare never makes a container wait that tsnet has nothing for', () => {
  test('a container on other networks only is refused at once, as soon as tsnet has seen it', async () => {
    const { names } = setup();
    await names.rescan();
    // c-lonely is on a bridge network only (its DNS asks tsnet first too).
    expect(names.prepare('10.1.0.3')).toBeUndefined();
    expect(names.lookup('web', '10.1.0.3')).toEqual({ kind: 'unknown' });
  });

  test('a host with no overlay answers every query at once', async () => {
    const docker = new FakeDocker();
    let looks = 0;
    docker.containers = async () => { looks += 1; return []; };
    const overlay = new FakeOverlay();
    overlay.overlays = () => new Map();
    const names = new ContainerNames({ docker, overlay, log: pino({ level: 'silent' }), debounceMs: 1, rescanMs: 60_000 });
    expect(names.prepare('172.17.0.2')).toBeUndefined();
    expect(looks).toBe(0);
  });
});

describe('dnsNamesOf', () => {
  test('names no DNS query can carry are left out; duplicates and case fold; the count is bounded', () => {
    const long = 'a'.repeat(64);
    expect(dnsNamesOf('Web', { aliases: ['web', 'WWW.', long, `${'b'.repeat(63)}.x`, ''], dnsNames: ['web', 'api'] })).toEqual(['web', 'api', `${'b'.repeat(63)}.x`, 'www']);
    expect(dnsNamesOf('x', { aliases: Array.from({ length: 50 }, (_, i) => `alias${i}`), dnsNames: [] })).toHaveLength(32);
  });
});
