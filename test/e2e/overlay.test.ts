import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import { run, waitFor } from '../support/exec.js';
import { DOCKER_MAJOR, DOCKER_VERSION } from '../support/dockerd.js';
import { startLab, type Lab } from '../support/lab.js';

/**
 * The overlay across simulated hosts built by deploy/lab/lab.sh: a network namespace, a dockerd
 * and a tsnet per host on a shared underlay bridge, and etcd on that underlay.
 */
let lab: Lab;
const NET = ['network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=overlay', '-o', 'tsnet.overlay.name=blue', '--ipam-driver', 'tsnet', '--ipam-opt', 'tsnet.scope=global', '--subnet', '10.61.0.0/24', 'blue'];
/** Each lab host's underlay address, its VTEP (deploy/lab/lab.sh: 198.19.10.<n>). */
const VTEP: Readonly<Record<string, string>> = { h1: '198.19.10.1', h2: '198.19.10.2', h3: '198.19.10.3' };
/** The lease a host's registration and publications live under (src/ipam/host-liveness.ts). */
const LEASE_TTL_MS = 10_000;
const FLOOD_MAC = '00:00:00:00:00:00';

beforeAll(async () => {
  lab = await startLab(2);
}, 300_000);

afterAll(async () => {
  await lab?.down();
}, 400_000);

const docker = (h: string, ...args: string[]) => lab.docker(h, args);
const tryDocker = (h: string, ...args: string[]) => lab.docker(h, args, { allowFail: true });
const ipOf = async (h: string, c: string) => (await docker(h, 'inspect', '-f', '{{(index .NetworkSettings.Networks "blue").IPAddress}}', c)).stdout.trim();
const macOf = async (h: string, c: string) => (await docker(h, 'inspect', '-f', '{{(index .NetworkSettings.Networks "blue").MacAddress}}', c)).stdout.trim();
/** One ICMP echo from container `c` on host `h`; true when it was answered. */
const ping = (h: string, c: string, ip: string) => tryDocker(h, 'exec', c, 'ping', '-c', '1', '-W', '2', ip).then((r) => r.code === 0);
/**
 * Container `c` on host `h` gets an answer from `ip` within `timeoutMs`: a packet lost on this
 * loaded machine is retried, but no answer within the bound fails the test.
 */
const reaches = (h: string, c: string, ip: string, timeoutMs = 10_000) => waitFor(() => ping(h, c, ip), `${c} on ${h} to reach ${ip}`, timeoutMs, 200);
/** The interface names inside container `c` on host `h`, in order (`lo`, `eth0`, …). */
const interfacesOf = async (h: string, c: string) => (await docker(h, 'exec', c, 'ip', '-o', 'link', 'show')).stdout.split('\n').filter(Boolean).map((l) => l.split(': ')[1]?.split('@')[0]);
/**
 * Runs a container `name` on h1 that answers `name` on port 80, published as `hostPort`, and
 * returns what the underlay's far end reads from h1's address on that port.
 */
async function publishedOnH1(name: string, network: string, hostPort: number): Promise<string> {
  await docker('h1', 'run', '-d', '--name', name, '--network', network, '-p', `${hostPort}:80`, 'tsbox', 'sh', '-c', `while true; do echo ${name} | nc -l -p 80; done`);
  return waitFor(async () => {
    const r = await lab.exec('ul', ['busybox', 'nc', '-w', '2', '198.19.10.1', String(hostPort)], { allowFail: true, timeoutMs: 5_000 });
    return r.stdout.includes(name) ? r.stdout : undefined;
  }, 'the published port on h1', 15_000, 300);
}
/** Three echoes, all unanswered: the output proves ping ran and got nothing back. */
const expectUnreachable = async (h: string, c: string, ip: string) => {
  const r = await tryDocker(h, 'exec', c, 'ping', '-c', '3', '-W', '3', ip);
  expect(r.code, `${c} on ${h} should not reach ${ip}: ${r.stdout}${r.stderr}`).toBe(1);
  expect(r.stdout).toContain('3 packets transmitted, 0 packets received');
};
/** `ip -d link show eth0` inside container `c` (BusyBox's ip has no -d: the host's, in the container's namespace). */
const eth0Details = async (h: string, c: string) => {
  const pid = (await docker(h, 'inspect', '-f', '{{.State.Pid}}', c)).stdout.trim();
  return (await run(['nsenter', '-t', pid, '-n', 'ip', '-d', 'link', 'show', 'eth0'])).stdout;
};
/**
 * Overlay `name` on h1 and h2 (tsnet's shared pool, `args` on both hosts, `perHost` on one),
 * with a container `<name>1` on h1 and `<name>2` on h2; all of it is removed when the test
 * ends, whether it passed or not. `field` reads the containers' settings on that network.
 */
async function overlayOnBothHosts(name: string, args: readonly string[], perHost: Partial<Record<'h1' | 'h2', readonly string[]>> = {}) {
  const containers = [['h1', `${name}1`], ['h2', `${name}2`]] as const;
  onTestFinished(async () => {
    for (const [h, c] of containers) await tryDocker(h, 'rm', '-f', c);
    for (const [h] of containers) await tryDocker(h, 'network', 'rm', name);
  });
  for (const [h] of containers) {
    await docker(h, 'network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=overlay', '-o', `tsnet.overlay.name=${name}`, ...(perHost[h] ?? []),
      '--ipam-driver', 'tsnet', '--ipam-opt', 'tsnet.scope=global', ...args, name);
  }
  for (const [h, c] of containers) await docker(h, 'run', '-d', '--name', c, '--network', name, 'tsbox', 'sleep', '1d');
  const field = async (h: 'h1' | 'h2', key = 'IPAddress') => (await docker(h, 'inspect', '-f', `{{(index .NetworkSettings.Networks "${name}").${key}}}`, `${name}${h.slice(1)}`)).stdout.trim();
  return { c1: `${name}1`, c2: `${name}2`, field };
}
const etcdKeys = async (prefix: string) => (await lab.exec('ul', ['etcdctl', '--endpoints', lab.etcdEndpoint, 'get', '--prefix', '--keys-only', prefix])).stdout.split('\n').filter(Boolean);

/**
 * What tsnet programmed on host `h`'s VXLAN device of the overlay (the lab's hosts have one):
 * static forwarding entries as `MAC VTEP` (`bridge fdb show`, with the all-zero MAC for the
 * flood entry of each other host) and neighbour entries as `IP MAC` (`ip neigh show`).
 */
async function peers(h: string): Promise<{ fdb: string[]; neigh: string[] }> {
  const devices = (await lab.exec(h, ['ip', '-o', 'link', 'show', 'type', 'vxlan'])).stdout.split('\n').filter(Boolean)
    .map((l) => l.split(': ')[1]?.split('@')[0] ?? '');
  const [dev] = devices;
  if (devices.length !== 1 || !dev) throw new Error(`${h} should have exactly one VXLAN device, has ${JSON.stringify(devices)}`);
  const fdb = (await lab.exec(h, ['bridge', 'fdb', 'show', 'dev', dev])).stdout.split('\n')
    .map((l) => l.trim().split(/\s+/)).filter((f) => f[1] === 'dst').map((f) => `${f[0]} ${f[2]}`);
  const neigh = (await lab.exec(h, ['ip', 'neigh', 'show', 'dev', dev])).stdout.split('\n')
    .map((l) => l.trim().split(/\s+/)).filter((f) => f[1] === 'lladdr').map((f) => `${f[0]} ${f[2]}`);
  return { fdb, neigh };
}

/** A container as the other hosts must see it: where it runs, its MAC and its address. */
interface Remote { readonly host: string; readonly mac: string; readonly ip: string }
const remoteOf = async (host: string, container: string): Promise<Remote> => ({ host, mac: await macOf(host, container), ip: await ipOf(host, container) });
/** `h` has forwarding, flood and neighbour entries for `r`. */
const programs = async (h: string, r: Remote) => {
  const { fdb, neigh } = await peers(h);
  return fdb.includes(`${r.mac} ${VTEP[r.host]}`) && fdb.includes(`${FLOOD_MAC} ${VTEP[r.host]}`) && neigh.includes(`${r.ip} ${r.mac}`);
};
/** `h` has nothing left that leads to `r`'s host or names `r`. */
const forgot = async (h: string, r: Remote) => {
  const { fdb, neigh } = await peers(h);
  const vtep = VTEP[r.host];
  return !fdb.some((e) => e.endsWith(` ${vtep}`) || e.startsWith(`${r.mac} `)) && !neigh.some((e) => e.startsWith(`${r.ip} `) || e.endsWith(` ${r.mac}`));
};

/**
 * Waits until `condition(h)` holds on every host in `hosts`, and returns, per host, how long
 * after `since` it was first seen to hold.
 */
async function timeUntil(hosts: readonly string[], what: string, condition: (h: string) => Promise<boolean>, since: number, timeoutMs: number): Promise<Record<string, number>> {
  const at: Record<string, number> = {};
  await waitFor(async () => {
    for (const h of hosts) if (at[h] === undefined && (await condition(h))) at[h] = Date.now() - since;
    return hosts.every((h) => at[h] !== undefined);
  }, `${what} on ${hosts.join(' and ')}`, timeoutMs, 100);
  return at;
}
const show = (at: Record<string, number>) => Object.entries(at).map(([h, ms]) => `${h} ${ms} ms`).join(', ');

describe('overlay across hosts', () => {
  test('every lab host runs the dockerd under test (TSNET_E2E_DOCKER) with its own client', async () => {
    // lab.sh is handed DOCKERD, DOCKER_CLIENT and DOCKERD_PATH (support/lab.ts); this checks it used them.
    const version = new RegExp(`^${DOCKER_VERSION.replace('.', '\\.')}\\.`);
    for (const h of ['h1', 'h2']) {
      const [server, client] = (await docker(h, 'version', '--format', '{{.Server.Version}} {{.Client.Version}}')).stdout.trim().split(' ');
      expect(server, `dockerd on ${h}`).toMatch(version);
      expect(client, `docker client for ${h}`).toMatch(version);
    }
  });

  test('containers on two hosts get distinct addresses from one subnet and reach each other (ARP included)', async () => {
    for (const h of ['h1', 'h2']) await docker(h, ...NET);
    // The default local gateway has one address on every host: tsnet's IPAM shares it.
    expect(await etcdKeys('tsnet/ipam/v1/tsnet-global/pools/')).toEqual(['tsnet/ipam/v1/tsnet-global/pools/10.61.0.0_24']);
    expect(await etcdKeys('tsnet/ipam/v1/tsnet-global/gw/')).toEqual(['tsnet/ipam/v1/tsnet-global/gw/10.61.0.0_24']);
    await docker('h1', 'run', '-d', '--name', 'c1', '--network', 'blue', 'tsbox', 'sleep', '1d');
    await docker('h2', 'run', '-d', '--name', 'c2', '--network', 'blue', 'tsbox', 'sleep', '1d');
    const [ip1, ip2] = [await ipOf('h1', 'c1'), await ipOf('h2', 'c2')];
    expect(ip1).toMatch(/^10\.61\.0\.\d+$/);
    expect(ip2).toMatch(/^10\.61\.0\.\d+$/);
    expect(ip1).not.toBe(ip2);
    await reaches('h1', 'c1', ip2);
    await reaches('h2', 'c2', ip1, 5_000);
    // The container learnt the peer by ARP: no entry was put into it by hand.
    expect((await docker('h1', 'exec', 'c1', 'arp', '-n')).stdout).toContain(ip2);
  });

  test('default layout: a container\'s interface is a macvlan link of the VXLAN device (no bridge on the host), and containers of one host reach each other', async () => {
    expect(await eth0Details('h1', 'c1')).toMatch(/macvlan mode bridge/);
    expect((await lab.exec('h1', ['ip', '-o', 'link', 'show', 'type', 'bridge'])).stdout).not.toContain('tsnb-');
    const shown = (await run([process.execPath, 'dist/src/cli.js', 'network', 'blue', '--state-dir', lab.stateDir('h1')])).stdout;
    expect(shown).toMatch(/^Driver: +overlay=blue datapath=macvlan gateway=local vni=\d+ port=4789$/m);
    expect(shown).toMatch(/^Devices: +tsnx-[0-9a-f]{10}, tsng-[0-9a-f]{10}$/m);
    await docker('h1', 'run', '-d', '--name', 'c1b', '--network', 'blue', 'tsbox', 'sleep', '1d');
    onTestFinished(async () => { await tryDocker('h1', 'rm', '-f', 'c1b'); });
    const [ip1, ip1b] = [await ipOf('h1', 'c1'), await ipOf('h1', 'c1b')];
    // Switched by the macvlan links themselves: the tunnel is not involved.
    await reaches('h1', 'c1b', ip1);
    await reaches('h1', 'c1', ip1b);
    await reaches('h1', 'c1b', await ipOf('h2', 'c2'));
    await docker('h1', 'rm', '-f', 'c1b');
    expect((await lab.exec('h1', ['ip', '-o', 'link', 'show'])).stdout.match(/tsnm-/g) ?? []).toHaveLength(0);
  });

  test('a host may keep the bridge layout (-o tsnet.overlay.datapath=bridge) on an overlay another host runs with macvlan links: traffic crosses both ways', async () => {
    const green = await overlayOnBothHosts('green', ['--subnet', '10.62.0.0/24'], { h1: ['-o', 'tsnet.overlay.datapath=bridge'] });
    expect((await lab.exec('h1', ['ip', '-o', 'link', 'show', 'type', 'bridge'])).stdout).toContain('tsnb-');
    expect(await eth0Details('h1', green.c1)).toMatch(/veth/);
    expect(await eth0Details('h2', green.c2)).toMatch(/macvlan/);
    await reaches('h1', green.c1, await green.field('h2'));
    await reaches('h2', green.c2, await green.field('h1'));
    await docker('h1', 'rm', '-f', green.c1);
    await docker('h2', 'rm', '-f', green.c2);
    for (const h of ['h1', 'h2']) await docker(h, 'network', 'rm', 'green');
    expect((await lab.exec('h1', ['ip', '-o', 'link', 'show', 'type', 'bridge'])).stdout).not.toContain('tsnb-');
  });

  test('dual-stack overlay: containers on two hosts reach each other over IPv6 too (neighbour discovery answered by the VXLAN device)', async () => {
    const six = await overlayOnBothHosts('six', ['--ipv6', '--subnet', '10.63.0.0/24', '--subnet', 'fd00:63::/64']);
    const [a, b] = [await six.field('h1', 'GlobalIPv6Address'), await six.field('h2', 'GlobalIPv6Address')];
    expect(a).toMatch(/^fd00:63::/);
    expect(b).toMatch(/^fd00:63::/);
    const ping6 = (h: string, c: string, ip: string) => waitFor(() => tryDocker(h, 'exec', c, 'ping', '-6', '-c', '1', '-W', '2', ip).then((r) => r.code === 0), `${c} on ${h} to reach ${ip}`, 10_000, 200);
    await ping6('h1', six.c1, b);
    await ping6('h2', six.c2, a);
  });

  test('--internal overlay: containers on two hosts reach each other, nothing outside, and get no docker_gwbridge leg', async () => {
    const inner = await overlayOnBothHosts('inner', ['--internal', '--subnet', '10.64.0.0/24']);
    await reaches('h1', inner.c1, await inner.field('h2'));
    await reaches('h2', inner.c2, await inner.field('h1'));
    // Only the overlay's interface (and lo): Docker attached no docker_gwbridge endpoint.
    expect(await interfacesOf('h1', inner.c1)).toEqual(['lo', 'eth0']);
    // No default route at all: the kernel refuses to send (BusyBox ping prints the error and exits 1).
    const out = await tryDocker('h1', 'exec', inner.c1, 'ping', '-c', '3', '-W', '3', '198.19.10.254');
    expect(out.code, out.stdout).toBe(1);
    expect(`${out.stdout}${out.stderr}`).toMatch(/sendto: Network is unreachable|3 packets transmitted, 0 packets received/);
    expect((await docker('h1', 'exec', inner.c1, 'ip', 'route')).stdout).not.toMatch(/^default/m);
  });

  test('-o tsnet.overlay.gateway=docker_gwbridge: Docker attaches each container to docker_gwbridge for outbound traffic and published ports; dockerd 28 reserves no gateway', async () => {
    const gwb = await overlayOnBothHosts('gwb', ['-o', 'tsnet.overlay.gateway=docker_gwbridge', '--subnet', '10.65.0.0/24']);
    // Version-specific: dockerd 28+ asks the driver first (GwAllocCheck) and then requests no
    // gateway address; 20.10 never asks and has tsnet's IPAM reserve one.
    expect(await etcdKeys('tsnet/ipam/v1/tsnet-global/gw/10.65.0.0_24')).toEqual(DOCKER_MAJOR >= 28 ? [] : ['tsnet/ipam/v1/tsnet-global/gw/10.65.0.0_24']);
    for (const [h, c] of [['h1', gwb.c1], ['h2', gwb.c2]] as const) {
      expect(await interfacesOf(h, c)).toEqual(['lo', 'eth0', 'eth1']);
      expect((await docker(h, 'exec', c, 'ip', 'route')).stdout).not.toMatch(/^default via 10\.65\./m);
      await reaches(h, c, '198.19.10.254');
    }
    await reaches('h1', gwb.c1, await gwb.field('h2'));
    onTestFinished(async () => { await tryDocker('h1', 'rm', '-f', 'gwb-web'); });
    expect(await publishedOnH1('gwb-web', 'gwb', 18081)).toContain('gwb-web');
    // No gateway link on the host for this overlay (blue's is the only one).
    expect((await lab.exec('h1', ['ip', '-o', 'link', 'show'])).stdout.split('\n').filter((l) => /: tsng-/.test(l))).toHaveLength(1);
  });

  test('tsnet peers on h1 shows h2\'s VTEP with c2, by Docker\'s network name, and a kernel that matches etcd', async () => {
    const ip2 = await ipOf('h2', 'c2');
    const peers = await run([process.execPath, 'dist/src/cli.js', 'peers', 'blue', '--json', '--state-dir', lab.stateDir('h1')]);
    const [view] = JSON.parse(peers.stdout) as Array<{ name: string; overlay: string; peers: { vteps: Array<{ host: string; address: string; local: boolean; endpoints: Array<{ ips: string[]; mac: string }> }>; missing: string[]; stale: string[]; watching: boolean } }>;
    expect(view).toMatchObject({ name: 'blue', overlay: 'blue', peers: { missing: [], stale: [], watching: true } });
    expect(view?.peers.vteps.find((t) => t.host === 'h2')).toMatchObject({ address: VTEP.h2, local: false, endpoints: [{ ips: [ip2], mac: await macOf('h2', 'c2') }] });
    expect(view?.peers.vteps.find((t) => t.host === 'h1')).toMatchObject({ address: VTEP.h1, local: true });
    const text = (await run([process.execPath, 'dist/src/cli.js', 'peers', '--state-dir', lab.stateDir('h1')])).stdout;
    expect(text).toContain('Overlay blue (network blue): device tsnx-');
    expect(text).toContain('kernel matches etcd');
    const metrics = (await run(['curl', '-sf', '--unix-socket', `${lab.stateDir('h1')}/admin.sock`, 'http://tsnet/metrics'])).stdout;
    expect(metrics).toContain('tsnet_overlay_peers{overlay="blue"} 1');
    expect(metrics).toContain('tsnet_overlay_remote_endpoints{overlay="blue"} 1');
    expect(metrics).toMatch(/tsnet_overlay_convergence_seconds_count\{overlay="blue"\} [1-9]/);
    expect(metrics).toMatch(/tsnet_etcd_requests_total\{op="transaction",outcome="ok"\} [1-9]/);
    const ipam = JSON.parse((await run([process.execPath, 'dist/src/cli.js', 'ipam', '--json', '--state-dir', lab.stateDir('h2')])).stdout) as Array<{ space: string; pools: Array<{ pool: string; holders: Array<{ host: string }> }> }>;
    expect(ipam.find((s) => s.space === 'tsnet-global')?.pools.find((p) => p.pool === '10.61.0.0/24')?.holders.map((h) => h.host)).toEqual(['h1', 'h2']);
  });

  test('the container MTU is the underlay MTU minus 50, and a full-size packet with DF set crosses', async () => {
    expect((await docker('h1', 'exec', 'c1', 'ip', 'link', 'show', 'eth0')).stdout).toContain('mtu 1450');
    // iputils ping (DF set with -M do) from the host's filesystem, inside the container's namespaces.
    const ip2 = await ipOf('h2', 'c2');
    const dfPing = (size: number) => tryDocker('h1', 'run', '--rm', '--network', 'blue', '-v', '/:/host:ro', 'tsbox', 'chroot', '/host', '/usr/bin/ping', '-M', 'do', '-s', String(size), '-c', '1', '-W', '2', ip2);
    const full = await waitFor(async () => {
      const r = await dfPing(1422);
      return r.code === 0 && r;
    }, 'a 1450-byte packet with DF set to cross', 20_000, 500);
    expect(full.stdout).toContain('1 received');
    // One byte more does not fit: the sender is told so and nothing is sent.
    const tooBig = await dfPing(1423);
    expect(tooBig.code).toBe(1);
    expect(`${tooBig.stdout}${tooBig.stderr}`).toMatch(/message too long, mtu=1450/);
  });

  test('outbound traffic and published ports go through the host, the containers\' gateway (the default): no docker_gwbridge leg', async () => {
    // Only the overlay's interface (and lo), with the default route through the shared gateway address.
    expect(await interfacesOf('h1', 'c1')).toEqual(['lo', 'eth0']);
    for (const [h, c] of [['h1', 'c1'], ['h2', 'c2']] as const) {
      expect((await docker(h, 'exec', c, 'ip', 'route')).stdout).toMatch(/^default via 10\.61\.0\.1 dev eth0/m);
      // The underlay's far end knows no route to 10.61.0.0/24: an answer proves the host masqueraded.
      await reaches(h, c, '198.19.10.254');
    }
    expect(await publishedOnH1('overlay-web', 'blue', 18080)).toContain('overlay-web');
  });

  test('a container removed on one host leaves the other host\'s FDB and neighbour table', async () => {
    await docker('h2', 'run', '-d', '--name', 'gone', '--network', 'blue', 'tsbox', 'sleep', '1d');
    const gone = await remoteOf('h2', 'gone');
    await waitFor(() => programs('h1', gone), 'h1 to learn the new endpoint', 5_000, 20);
    const started = Date.now();
    await docker('h2', 'rm', '-f', 'gone');
    await waitFor(async () => {
      const { fdb, neigh } = await peers('h1');
      return !fdb.includes(`${gone.mac} ${VTEP.h2}`) && !neigh.includes(`${gone.ip} ${gone.mac}`);
    }, 'h1 to forget the removed endpoint', 5_000, 20);
    console.info(`removed endpoint left h1's FDB ${Date.now() - started} ms after docker rm returned`);
    // Only that endpoint: h2 itself (c2 and the flood entry) is still programmed.
    expect(await programs('h1', await remoteOf('h2', 'c2'))).toBe(true);
  });

  test('a third host joins later and reaches both', async () => {
    await lab.lab(['up', '3']);
    await docker('h3', ...NET);
    await docker('h3', 'run', '-d', '--name', 'c3', '--network', 'blue', 'tsbox', 'sleep', '1d');
    for (const [h, c] of [['h1', 'c1'], ['h2', 'c2']] as const) await reaches('h3', 'c3', await ipOf(h, c));
  });

  /**
   * A host whose tsnet stops answering (SIGSTOP, or SIGKILL and a later start) for longer than
   * the lease TTL: the others withdraw it, traffic to its containers stops, and when its tsnet
   * is back it publishes again and the others program it again. Returns the measured times.
   */
  async function leaseExpiry(how: 'pause' | 'kill'): Promise<void> {
    const c2 = await remoteOf('h2', 'c2');
    const c3 = await remoteOf('h3', 'c3');
    const c1 = await remoteOf('h1', 'c1');
    const others = [['h1', 'c1'], ['h3', 'c3']] as const;
    for (const [h, c] of others) {
      await waitFor(() => programs(h, c2), `${h} to have h2's entries`, 15_000, 100);
      await reaches(h, c, c2.ip);
    }
    // Whatever happens below, h2's tsnet runs (and is not paused) when the test ends.
    onTestFinished(async () => {
      if (how === 'pause') await lab.lab(['tsnet', 'h2', 'resume'], { allowFail: true });
      if (!(await lab.lab(['status'])).stdout.match(/^h2-tsnet\s+pid \d+\s+running$/m)) await lab.lab(['tsnet', 'h2', 'start']);
    });
    const pid = await lab.pid('h2-tsnet');
    await lab.lab(['tsnet', 'h2', how]);
    const gone = Date.now();

    const withdrawn = await timeUntil(['h1', 'h3'], 'h2 to be withdrawn', (h) => forgot(h, c2), gone, LEASE_TTL_MS + 20_000);
    // Through its lease running out, not sooner: the last keepalive (every TTL/3) came at most
    // ~3.3 s before h2 went, so the lease cannot expire within 5 s of that.
    for (const ms of Object.values(withdrawn)) expect(ms).toBeGreaterThanOrEqual(LEASE_TTL_MS / 2);
    expect(await etcdKeys('tsnet/overlay/v1/net/blue/vtep/')).toEqual(['tsnet/overlay/v1/net/blue/vtep/h1', 'tsnet/overlay/v1/net/blue/vtep/h3']);
    expect(await etcdKeys('tsnet/hosts/h2')).toEqual([]);
    // Only h2 was withdrawn: h1 and h3 still program each other, and still talk.
    expect(await programs('h1', c3)).toBe(true);
    expect(await programs('h3', c1)).toBe(true);
    await reaches('h1', 'c1', c3.ip, 5_000);
    for (const [h, c] of others) await expectUnreachable(h, c, c2.ip);

    if (how === 'pause') await lab.lab(['tsnet', 'h2', 'resume']);
    else await lab.lab(['tsnet', 'h2', 'start']);
    const back = Date.now();
    if (how === 'pause') expect(await lab.pid('h2-tsnet')).toBe(pid);
    const programmed = await timeUntil(['h1', 'h3'], 'h2 to be programmed again', (h) => programs(h, c2), back, 30_000);
    const flowing = await timeUntil(['h1', 'h3'], 'traffic to c2 again', async (h) => ping(h, h === 'h1' ? 'c1' : 'c3', c2.ip), back, 15_000);
    expect((await etcdKeys('tsnet/overlay/v1/net/blue/vtep/')).sort()).toEqual(['h1', 'h2', 'h3'].map((h) => `tsnet/overlay/v1/net/blue/vtep/${h}`));
    console.info(`lease expiry (tsnet on h2 ${how === 'pause' ? 'paused with SIGSTOP' : 'killed with SIGKILL'}, TTL ${LEASE_TTL_MS} ms): `
      + `withdrawn after ${show(withdrawn)}; after ${how === 'pause' ? 'SIGCONT' : 'tsnet start returned'}, programmed again after ${show(programmed)}, traffic again after ${show(flowing)}`);
  }

  test('a host whose tsnet is frozen longer than the lease TTL is withdrawn by the others, and re-published when it resumes', async () => {
    await leaseExpiry('pause');
  });

  test('a host whose tsnet crashed and stayed down longer than the lease TTL is withdrawn, and programmed again when tsnet starts', async () => {
    await leaseExpiry('kill');
  });

  /**
   * A restart of tsnet (stopped as systemd stops it, or killed) is not the host leaving: its
   * containers keep running, so the other hosts keep its entries while it is down, and once it
   * is back they still have them after the old lease's TTL has run out (its keys were moved to
   * the new daemon's lease).
   */
  test.each(['stop', 'kill'] as const)('tsnet %s on a host: the others keep its entries and traffic holds while it is down and after it starts again', async (how) => {
    const c2 = await remoteOf('h2', 'c2');
    onTestFinished(async () => {
      if (!(await lab.lab(['status'])).stdout.match(/^h2-tsnet\s+pid \d+\s+running$/m)) await lab.lab(['tsnet', 'h2', 'start']);
    });
    for (const h of ['h1', 'h3']) await waitFor(() => programs(h, c2), `${h} to have h2's entries`, 15_000, 100);
    await lab.lab(['tsnet', 'h2', how]);
    const down = Date.now();
    // A withdrawal reaches the others within tens of milliseconds; checked for 3 s, well within the TTL.
    while (Date.now() - down < 3_000) {
      for (const h of ['h1', 'h3']) expect(await programs(h, c2), `${h} still programs c2 while tsnet on h2 is down`).toBe(true);
      await new Promise((r) => setTimeout(r, 250));
    }
    await reaches('h1', 'c1', c2.ip, 5_000);
    await lab.lab(['tsnet', 'h2', 'start']);
    await new Promise((r) => setTimeout(r, Math.max(0, down + LEASE_TTL_MS + 2_000 - Date.now())));
    for (const h of ['h1', 'h3']) expect(await programs(h, c2), `${h} programs c2 after the old lease ran out`).toBe(true);
    expect(await etcdKeys('tsnet/overlay/v1/net/blue/vtep/h2')).toEqual(['tsnet/overlay/v1/net/blue/vtep/h2']);
    await reaches('h1', 'c1', c2.ip, 5_000);
    await docker('h1', 'run', '-d', '--name', `c4${how}`, '--network', 'blue', 'tsbox', 'sleep', '1d');
    onTestFinished(async () => { await tryDocker('h1', 'rm', '-f', `c4${how}`); });
    await reaches('h2', 'c2', await ipOf('h1', `c4${how}`));
  });

  test('etcd stopped for 20 s: existing traffic continues; new endpoints work after it returns', async () => {
    const ip2 = await ipOf('h2', 'c2');
    await lab.lab(['etcd', 'stop']);
    try {
      const health = await lab.exec('ul', ['etcdctl', '--endpoints', lab.etcdEndpoint, '--dial-timeout', '1s', '--command-timeout', '2s', 'endpoint', 'health'], { allowFail: true });
      expect(health.code, 'etcd should be down').not.toBe(0);
      const failed = await tryDocker('h1', 'run', '-d', '--name', 'during', '--network', 'blue', 'tsbox', 'sleep', '1d');
      expect(failed.code).not.toBe(0);
      expect(failed.stderr).toMatch(/etcd/);
      // Checked again and again for 20 s; each check may retry a lost packet for up to 6 s.
      const deadline = Date.now() + 20_000;
      let checks = 0;
      while (Date.now() < deadline) {
        await reaches('h1', 'c1', ip2, 6_000);
        checks++;
        await new Promise((r) => setTimeout(r, 1_000)); // spreads the checks over the outage
      }
      expect(checks).toBeGreaterThanOrEqual(3);
    } finally {
      await tryDocker('h1', 'rm', '-f', 'during');
      await lab.lab(['etcd', 'start']);
    }
    await waitFor(async () => {
      const started = await tryDocker('h2', 'run', '-d', '--name', 'after', '--network', 'blue', 'tsbox', 'sleep', '1d');
      // A failed start leaves the container created: remove it before the next try.
      if (started.code !== 0) await tryDocker('h2', 'rm', '-f', 'after');
      return started.code === 0;
    }, 'a new endpoint after etcd returns', 30_000, 1_000);
    const ipAfter = await ipOf('h2', 'after');
    await reaches('h1', 'c1', ipAfter, 15_000);
  });

  test('bad input: an invalid VNI and options that disagree with the recorded overlay are refused', async () => {
    const badVni = await tryDocker('h1', 'network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=overlay', '-o', 'tsnet.overlay.name=red', '-o', 'tsnet.vni=16777216', '--subnet', '10.62.0.0/24', 'red');
    expect(badVni.code).not.toBe(0);
    expect(badVni.stderr).toMatch(/"tsnet.vni": "16777216" is not an integer between 1 and 16777215/);
    expect((await tryDocker('h1', 'network', 'inspect', 'red')).code).not.toBe(0);
    // h3 leaves the overlay, then tries to join it again with another VNI.
    expect((await lab.exec('h3', ['ip', '-o', 'link', 'show'])).stdout).toMatch(/tsn[bx]-/);
    await docker('h3', 'rm', '-f', 'c3');
    await docker('h3', 'network', 'rm', 'blue');
    const mismatch = await tryDocker('h3', 'network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=overlay', '-o', 'tsnet.overlay.name=blue', '-o', 'tsnet.vni=77', '--subnet', '10.61.0.0/24', 'blue');
    expect(mismatch.code).not.toBe(0);
    expect(mismatch.stderr).toMatch(/overlay blue exists \(created by host h1\) with vni=\d+, but this host asked for vni=77/);
    expect((await tryDocker('h3', 'network', 'inspect', 'blue')).code).not.toBe(0);
    expect((await lab.exec('h3', ['ip', '-o', 'link', 'show'])).stdout).not.toMatch(/tsn[bx]-/);
  });

  test('docker network rm on every host removes the devices and frees the VNI', async () => {
    expect(await etcdKeys('tsnet/overlay/')).toContain('tsnet/overlay/v1/def/blue');
    for (const h of ['h1', 'h2']) {
      expect((await lab.exec(h, ['ip', '-o', 'link', 'show'])).stdout).toMatch(/tsn[bx]-/);
      const ids = (await docker(h, 'ps', '-aq')).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await docker(h, 'rm', '-f', ...ids);
      await docker(h, 'network', 'rm', 'blue');
      expect((await lab.exec(h, ['ip', '-o', 'link', 'show'])).stdout).not.toMatch(/tsn[bxvpmg]-/);
    }
    expect(await etcdKeys('tsnet/overlay/')).toEqual([]);
  });
});
