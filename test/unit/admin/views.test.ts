import { describe, expect, test } from 'vitest';
import { renderIpam, renderNetwork, renderNetworks, renderPeers, renderPorts, renderStatus, table } from '../../../src/admin/render.js';
import { NO_NAMES, countsOf, findNetwork, networkView, portsOf, type DockerNames } from '../../../src/admin/views.js';
import { EP_1, EP_2, NET_A, NET_B, endpoint, network } from '../bridge/fixtures.js';

const owned = (n: { id: string }, endpoints: readonly { id: string }[]) => [`tsnb-${n.id.slice(0, 4)}`, ...endpoints.map((e) => `tsnv-${e.id.slice(-4)}`)];
const names: DockerNames = {
  networks: new Map([[NET_A, 'web']]),
  endpoints: new Map([[EP_1, { containerId: 'c0ffee000000111122223333', name: 'shop' }]]),
};
const netA = network({ id: NET_A, options: { 'com.docker.network.bridge.enable_icc': 'false' } });
const published = endpoint({ id: EP_1, address: '10.0.0.2/24', sandboxKey: '/var/run/docker/netns/x', ports: [{ proto: 'tcp', port: 80, hostIp: '127.0.0.1', hostPort: 8080, hostPortEnd: 8080 }] });
const unjoined = endpoint({ id: EP_2, networkId: NET_A, address: '10.0.0.3/24' });
const views = [networkView(netA, [published, unjoined], names, owned), networkView(network({ id: NET_B, type: 'null' }), [], NO_NAMES, () => [])];

describe('admin views: built from the daemon\'s own records, with Docker\'s names where known', () => {
  test('a network shows its devices apart from its endpoints\' links, and Docker\'s names', () => {
    const [web] = views;
    expect(web).toMatchObject({ id: NET_A, name: 'web', type: 'bridge', devices: ['tsnb-aaaa'], subnets: [{ subnet: '10.99.0.0/24', gateway: '10.99.0.1/24' }] });
    expect(web?.endpoints.map((e) => [e.container, e.links, e.joined])).toEqual([['shop', ['tsnv-0001'], true], [undefined, ['tsnv-0002'], false]]);
    expect(views[1]?.name).toBeUndefined();
  });

  test('a network is found by Docker name, full id or an unambiguous prefix; ports by container name, container id or endpoint id', () => {
    expect(findNetwork(views, 'web')?.id).toBe(NET_A);
    expect(findNetwork(views, NET_B)?.id).toBe(NET_B);
    expect(findNetwork(views, 'bbbb')?.id).toBe(NET_B);
    expect(findNetwork(views, 'nope')).toBeUndefined();
    expect(findNetwork(views, 'abc')).toBeUndefined(); // a prefix shorter than 4 characters matches nothing
    for (const ref of ['shop', 'c0ffee', EP_1, 'eeeeeeeeeeee0000000000000000000000000000000000000000000000000001']) {
      expect(portsOf(views, ref)).toEqual([{ network: NET_A, networkName: 'web', endpoint: EP_1, container: 'shop', proto: 'tcp', containerIp: '10.0.0.2', containerPort: 80, hostIp: '127.0.0.1', hostPort: 8080, hostPortEnd: 8080 }]);
    }
    expect(portsOf(views)).toHaveLength(1);
    expect(countsOf(views)).toEqual({ networks: { bridge: 1, null: 1 }, endpoints: 2, ports: 1 });
  });

  test('tables line up, and say so when there is nothing to show', () => {
    expect(table(['A', 'LONG'], [['xxxx', '1'], ['y', '22']])).toBe('A     LONG\nxxxx  1\ny     22\n');
    expect(renderNetworks(views)).toContain('aaaaaaaaaaaa  web   bridge  10.99.0.0/24  tsnb-aaaa  2');
    expect(renderNetwork(views[0]!)).toContain('127.0.0.1:8080->80/tcp');
    expect(renderNetwork(views[0]!)).toContain('(not joined)');
    expect(renderPorts(portsOf(views))).toContain('shop       web      tcp    10.0.0.2:80     127.0.0.1:8080');
    expect(renderPorts([])).toBe('no published ports\n');
    expect(renderNetworks([])).toBe('no tsnet networks\n');
    expect(renderNetwork(views[0]!)).not.toContain('Driver:');
    const overlay = networkView(network({ id: NET_B, type: 'overlay' }), [], NO_NAMES, () => ['tsnx-bbbb'], () => ({ overlay: 'blue', datapath: 'macvlan', vni: '4096' }));
    expect(renderNetwork(overlay)).toContain('Driver:    overlay=blue datapath=macvlan vni=4096\n');
    expect(networkView(network({ id: NET_B, type: 'null' }), [], NO_NAMES, () => [], () => ({})).driver).toBeUndefined();
  });

  test('the status names what is wrong: lease not held, Docker unreachable, suspected orphans', () => {
    const text = renderStatus({
      version: '0.1.0', pid: 7, hostId: 'h1', ready: true, uptimeSeconds: 3, pluginSocket: '/run/docker/plugins/tsnet.sock', stateDir: '/var/lib/tsnet',
      etcd: { endpoints: 'etcd http://127.0.0.1:2379', leaseHeld: false },
      docker: { host: 'unix:///var/run/docker.sock', lastLook: '2026-12-02T08:00:00.000Z', reachable: false, error: 'ECONNREFUSED', suspectedOrphans: ['network aaaaaaaaaaaa'], lost: [] },
      networks: { bridge: 2 }, endpoints: 3, ports: 1,
    });
    expect(text).toContain('host lease NOT held');
    expect(text).toContain('NOT reachable (ECONNREFUSED)');
    expect(text).toContain('suspected orphans (kept until Docker can be asked): network aaaaaaaaaaaa');
    expect(text).toContain('2 bridge; 3 endpoint(s), 1 published port(s)');
    expect(text).not.toContain('memory:');
  });

  test('the status shows the daemon\'s memory, and says when node ran without tsnet\'s flags', () => {
    const base = { version: '0.1.0', pid: 7, hostId: 'h1', ready: true, uptimeSeconds: 3, pluginSocket: '/s', stateDir: '/d', networks: {}, endpoints: 0, ports: 0 };
    expect(renderStatus({ ...base, memory: { rssBytes: 80 * 1048576, heapUsedBytes: 24 * 1048576, missingNodeFlags: [] } }))
      .toContain('memory:        80 MiB resident, V8 heap 24 MiB used\n');
    expect(renderStatus({ ...base, memory: { rssBytes: 80 * 1048576, heapUsedBytes: 24 * 1048576, missingNodeFlags: ['--max-semi-space-size=1'] } }))
      .toContain('node started WITHOUT --max-semi-space-size=1');
  });

  test('the status shows the resolver of names across hosts, and why it does not listen', () => {
    const base = { version: '0.1.0', pid: 7, hostId: 'h1', ready: true, uptimeSeconds: 3, pluginSocket: '/s', stateDir: '/d', networks: {}, endpoints: 0, ports: 0 };
    expect(renderStatus(base)).not.toContain('names:');
    expect(renderStatus({ ...base, dns: { listen: '169.254.53.53', listening: true } })).toContain('names:         resolver 169.254.53.53:53 listening');
    expect(renderStatus({ ...base, dns: { listen: '169.254.53.53', listening: false, error: 'DNS server cannot bind udp 169.254.53.53:53: EADDRINUSE' } }))
      .toContain('resolver 169.254.53.53:53 NOT listening: DNS server cannot bind udp 169.254.53.53:53: EADDRINUSE');
  });
});

describe('peers and ipam views', () => {
  test('an overlay with peers says whether the kernel matches etcd and lists what differs; one without a local endpoint says why it has none', () => {
    const text = renderPeers([
      { network: NET_A, name: 'blue-net', overlay: 'blue', peers: {
        overlay: 'blue', device: 'tsnx-aaaa', watching: true, lastConverged: '2026-12-02T08:00:00.000Z',
        vteps: [
          { host: 'h1', address: '198.19.0.1', local: true, endpoints: [{ id: EP_1, mac: '02:00:00:00:00:01', ips: ['10.1.0.2'] }] },
          { host: 'h2', address: '198.19.0.2', local: false, seenAt: '2026-12-02T07:59:00.000Z', endpoints: [{ id: EP_1, mac: '02:00:00:00:00:03', ips: ['10.1.0.3'], names: ['web', 'www'] }] },
        ],
        missing: ['neigh 10.1.0.3 lladdr 02:00:00:00:00:03'], stale: [],
      } },
      { network: NET_B, overlay: 'green' },
    ]);
    expect(text).toContain('Overlay blue (network blue-net): device tsnx-aaaa, kernel DIFFERS from etcd: 1 missing, 0 stale');
    expect(text).toContain('h1 (this host)  198.19.0.1  10.1.0.2 02:00:00:00:00:01');
    // The names a container on another host answers to (container names across hosts).
    expect(text).toContain('10.1.0.3 02:00:00:00:00:03 (web, www)');
    expect(text).toContain('  missing in the kernel: neigh 10.1.0.3 lladdr 02:00:00:00:00:03');
    expect(text).toContain('Overlay green (network bbbbbbbbbbbb): no endpoint on this host');
    expect(renderPeers([])).toBe('no overlay networks on this host\n');
  });

  test('ipam: usage and holders per pool, and a space that cannot be read says why', () => {
    const text = renderIpam([
      { space: 'tsnet-local', shared: false, pools: [{ pool: '10.1.0.0/24', v6: false, size: '254', allocated: 3, gateway: '10.1.0.1', holders: [{ host: 'h1', refs: 1, addresses: 3 }], createdAt: '' }] },
      { space: 'tsnet-global', shared: true, pools: [], error: 'etcd http://127.0.0.1:2379 cannot be reached' },
    ]);
    expect(text).toContain('10.1.0.0/24  -         10.1.0.1  3/254  h1 1/3');
    expect(text).toContain('tsnet-global (shared by hosts through etcd): cannot be read: etcd http://127.0.0.1:2379 cannot be reached');
  });
});
