import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import { startTestEtcd } from '../../support/etcd.js';
import { run, type ExecResult } from '../../support/exec.js';
import { ensureBuilt, REPO } from '../../support/tsnet-daemon.js';
import { sh, withTestNetns } from '../host/netns-fixture.js';

/**
 * `tsnet doctor` with its real probe, run as a program inside a network namespace the test makes
 * (its sysctls, routes and iptables are the namespace's), against a fake Docker API and a fake
 * plugin on temp unix sockets. Each test breaks one thing and reads the report. Traffic goes only
 * to loopback inside the test's namespace; every server, namespace and file is removed even when
 * a test fails, and the only process started is doctor itself, which exits on its own.
 */
const SUBNET = '10.77.0.0/24';

interface Host {
  readonly ns: string;
  readonly dir: string;
  readonly socketPath: string;
  readonly stateDir: string;
  readonly dockerHost: string;
  doctor(...extra: string[]): Promise<ExecResult>;
}

/** A fake dockerd: GET /version and GET /networks, with one tsnet network (dual-stack with `ipv6`). */
function fakeDocker(ipv6?: string): Server {
  return createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/version') return res.end(JSON.stringify({ Version: '20.10.24', ApiVersion: '1.41' }));
    if (req.url === '/networks') {
      return res.end(JSON.stringify([
        { Id: 'a'.repeat(64), Name: 'bridge', Driver: 'bridge', Options: {}, IPAM: { Driver: 'default', Config: [{ Subnet: '172.17.0.0/16' }] } },
        { Id: 'b'.repeat(64), Name: 'app', Driver: 'tsnet', Options: {}, IPAM: { Driver: 'tsnet', Config: [{ Subnet: SUBNET }, ...(ipv6 ? [{ Subnet: ipv6 }] : [])] } },
      ]));
    }
    res.statusCode = 404;
    res.end('{"message":"not found"}');
  });
}

/** A fake tsnet plugin: answers Plugin.Activate as the daemon does. */
function fakePlugin(): Server {
  return createServer((req, res) => {
    res.setHeader('content-type', 'application/vnd.docker.plugins.v1.2+json');
    res.end(req.url === '/Plugin.Activate' ? '{"Implements":["NetworkDriver","IpamDriver"]}' : '{"Err":"no"}');
  });
}

async function listen(server: Server, path: string): Promise<void> {
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve));
}

async function healthyHost(options: { ipv6Subnet?: string } = {}): Promise<Host> {
  const dir = await mkdtemp(join(tmpdir(), 'tsnet-doctor-'));
  onTestFinished(async () => {
    await run(['chattr', '-i', join(dir, 'state')], { allowFail: true }); // a test may have made it immutable
    await rm(dir, { recursive: true, force: true });
  });
  const { ns } = await withTestNetns('doc');
  await sh(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  const socketPath = join(dir, 'plugins', 'tsnet.sock');
  const stateDir = join(dir, 'state');
  await mkdir(join(dir, 'plugins'));
  await mkdir(stateDir, { mode: 0o700 });
  await listen(fakeDocker(options.ipv6Subnet), join(dir, 'docker.sock'));
  await listen(fakePlugin(), socketPath);
  await chmod(socketPath, 0o660);
  const dockerHost = `unix://${join(dir, 'docker.sock')}`;
  return {
    ns, dir, socketPath, stateDir, dockerHost,
    // A clean environment: no TSNET_* variable of the test runner reaches doctor.
    doctor: (...extra) => run(['nsenter', `--net=/run/netns/${ns}`, process.execPath, join(REPO, 'dist/src/cli.js'), 'doctor',
      '--socket', socketPath, '--state-dir', stateDir, '--docker-host', dockerHost, ...extra], { allowFail: true, timeoutMs: 30_000, env: { PATH: process.env.PATH } }),
  };
}

/** The report line of one check: `ID  STATUS  message[ — fix: command]`. */
function line(report: string, id: string): string {
  const found = report.split('\n').find((l) => l.startsWith(`${id} `));
  if (!found) throw new Error(`no ${id} line in:\n${report}`);
  return found;
}

beforeAll(() => ensureBuilt(), 180_000);

describe('tsnet doctor on a prepared namespace', () => {
  test('a ready host: no FAIL, exit 0; --json is an array naming every check', async () => {
    const host = await healthyHost();
    const { code, stdout, stderr } = await host.doctor('--json');
    const results = JSON.parse(stdout) as Array<{ id: string; status: string; message: string; fix?: string }>;
    const byId = new Map(results.map((r) => [r.id, r]));
    expect(results.filter((r) => r.status === 'FAIL'), stdout).toEqual([]);
    expect(code, stderr).toBe(0);
    for (const id of ['sysctl.ip_forward', 'docker.api', 'plugin.socket', 'plugin.socket-mode', 'state.dir', 'routes.conflicts', 'kernel.bridge', 'kernel.veth', 'firewall.backend']) {
      expect(byId.get(id)?.status, id).toBe('PASS');
    }
    expect(byId.get('docker.api')?.message).toBe(`dockerd 20.10.24 (API 1.41) on ${host.dockerHost}, 1 network(s) of driver tsnet`);
    // A temp socket is not where Docker looks: a WARN, which does not fail.
    expect(byId.get('plugin.discovery')?.status).toBe('WARN');
    expect(byId.get('etcd.reachable')?.status).toBe('SKIP');
    // This kernel has no ipvlan module: reported, not a crash, and not a FAIL without ipvlan networks.
    expect(['PASS', 'WARN']).toContain(byId.get('kernel.ipvlan')?.status);
  });

  test('ip_forward off in the namespace: FAIL with the sysctl that fixes it, exit 1', async () => {
    const host = await healthyHost();
    await sh(['ip', 'netns', 'exec', host.ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=0']);
    const { code, stdout } = await host.doctor();
    expect(line(stdout, 'sysctl.ip_forward')).toMatch(/^sysctl\.ip_forward\s+FAIL\s+net\.ipv4\.ip_forward = 0: .* — fix: sysctl -w net\.ipv4\.ip_forward=1$/);
    expect(stdout).toMatch(/^doctor: host NOT ready: \d+ passed, 1 failed/m);
    expect(code).toBe(1);
  });

  test('IPv6 forwarding off: WARN without IPv6 networks, FAIL once the tsnet network has an IPv6 subnet; on: PASS', async () => {
    const v4 = await healthyHost();
    await sh(['ip', 'netns', 'exec', v4.ns, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=0']);
    const warned = await v4.doctor();
    expect(line(warned.stdout, 'sysctl.ipv6_forward')).toMatch(/^sysctl\.ipv6_forward\s+WARN\s+net\.ipv6\.conf\.all\.forwarding = 0: no tsnet network has IPv6 now, .* — fix: sysctl -w net\.ipv6\.conf\.all\.forwarding=1$/);
    expect(warned.code).toBe(0);
    const dual = await healthyHost({ ipv6Subnet: 'fd00:77::/64' });
    await sh(['ip', 'netns', 'exec', dual.ns, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=0']);
    const failed = await dual.doctor();
    expect(line(failed.stdout, 'sysctl.ipv6_forward')).toMatch(/^sysctl\.ipv6_forward\s+FAIL\s+net\.ipv6\.conf\.all\.forwarding = 0: containers on IPv6 network\(s\) app .* — fix: sysctl -w net\.ipv6\.conf\.all\.forwarding=1$/);
    expect(failed.code).toBe(1);
    await sh(['ip', 'netns', 'exec', dual.ns, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
    const fixed = await dual.doctor();
    expect(line(fixed.stdout, 'sysctl.ipv6_forward')).toMatch(/^sysctl\.ipv6_forward\s+PASS\s+net\.ipv6\.conf\.all\.forwarding = 1$/);
  });

  test('etcd in the namespace: the liveness key under a lease PASSes with its TTL; once revoked, FAIL while the plugin answers', async () => {
    const host = await healthyHost();
    const etcd = await startTestEtcd({ netnsPath: `/run/netns/${host.ns}` });
    onTestFinished(() => etcd.destroy());
    const etcdctl = (...args: string[]) => sh(['ip', 'netns', 'exec', host.ns, 'etcdctl', '--endpoints', etcd.endpoint, ...args]);
    const granted = await etcdctl('lease', 'grant', '60');
    const lease = /lease ([0-9a-f]+) granted/.exec(granted)?.[1];
    expect(lease, granted).toBeDefined();
    await etcdctl('put', `--lease=${lease}`, 'tsnet/hosts/node-doc', JSON.stringify({ pid: 4242, since: '2026-12-02T10:00:00.000Z' }));
    const args = ['--etcd-endpoints', etcd.endpoint, '--host-id', 'node-doc'];
    const held = await host.doctor(...args);
    expect(line(held.stdout, 'etcd.lease')).toMatch(new RegExp(`^etcd\\.lease\\s+PASS\\s+tsnet/hosts/node-doc held under lease ${lease} by pid 4242 since 2026-12-02T10:00:00\\.000Z, \\d+ s of 60 s left$`));
    expect(held.code, held.stdout).toBe(0);
    await etcdctl('lease', 'revoke', lease as string);
    const gone = await host.doctor(...args);
    expect(line(gone.stdout, 'etcd.lease')).toMatch(/^etcd\.lease\s+FAIL\s+the daemon answers but holds no lease: tsnet\/hosts\/node-doc does not exist; .* — fix: systemctl restart tsnet$/);
    expect(gone.code).toBe(1);
  });

  test('the plugin socket missing: FAIL, and its mode check SKIPs', async () => {
    const host = await healthyHost();
    const missing = join(host.dir, 'plugins', 'gone.sock');
    const { code, stdout } = await host.doctor('--socket', missing);
    expect(line(stdout, 'plugin.socket')).toMatch(new RegExp(`FAIL\\s+${missing} does not exist: .* — fix: systemctl start tsnet$`));
    expect(line(stdout, 'plugin.socket-mode')).toMatch(/SKIP/);
    expect(code).toBe(1);
  });

  test('the plugin socket open to every user: FAIL with the chmod that fixes it', async () => {
    const host = await healthyHost();
    await chmod(host.socketPath, 0o666);
    const { code, stdout } = await host.doctor();
    expect(line(stdout, 'plugin.socket-mode')).toMatch(new RegExp(`FAIL\\s+${host.socketPath} has mode 666: .* — fix: chmod 660 ${host.socketPath}$`));
    expect(line(stdout, 'plugin.socket')).toMatch(/PASS/);
    expect(code).toBe(1);
  });

  test('a route through another interface overlapping a tsnet subnet: FAIL naming the route', async () => {
    const host = await healthyHost();
    await sh(['ip', '-n', host.ns, 'link', 'add', 'vdoc0', 'type', 'veth', 'peer', 'name', 'vdoc1']);
    await sh(['ip', '-n', host.ns, 'link', 'set', 'vdoc0', 'up']);
    await sh(['ip', '-n', host.ns, 'route', 'add', '10.77.0.0/25', 'dev', 'vdoc0']);
    const { code, stdout } = await host.doctor();
    expect(line(stdout, 'routes.conflicts')).toMatch(/FAIL\s+route "10\.77\.0\.0\/25 dev vdoc0" overlaps 10\.77\.0\.0\/24 of network app: .* — fix: ip route del 10\.77\.0\.0\/25 dev vdoc0$/);
    expect(code).toBe(1);
  });

  test('an unwritable (immutable) state directory: FAIL with chattr -i', async () => {
    const host = await healthyHost();
    await sh(['chattr', '+i', host.stateDir]);
    const { code, stdout } = await host.doctor();
    expect(line(stdout, 'state.dir')).toMatch(new RegExp(`FAIL\\s+${host.stateDir} is not writable \\(EPERM\\): .* — fix: chattr -i ${host.stateDir}$`));
    expect(code).toBe(1);
  });

  test('dockerd, etcd and a VXLAN peer that do not answer: FAIL lines, never a stack trace', async () => {
    const host = await healthyHost();
    const { code, stdout, stderr } = await host.doctor('--docker-host', `unix://${join(host.dir, 'no-docker.sock')}`, '--etcd-endpoints', 'http://127.0.0.1:1', '--vxlan-peer', '127.0.0.1');
    expect(line(stdout, 'docker.api')).toMatch(/FAIL\s+dockerd does not answer: .*ENOENT.* — fix: systemctl start docker$/);
    expect(line(stdout, 'routes.conflicts')).toMatch(/SKIP/);
    expect(line(stdout, 'etcd.reachable')).toMatch(/FAIL\s+no etcd endpoint answers: http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED/);
    expect(line(stdout, 'etcd.auth')).toMatch(/SKIP\s+etcd is not reachable/);
    expect(line(stdout, 'vxlan.port')).toMatch(/FAIL\s+UDP 4789 is refused \("port unreachable"\) by 127\.0\.0\.1 \(given\)/);
    expect(`${stdout}${stderr}`).not.toMatch(/\n\s+at /);
    expect(code).toBe(1);
  });

  test('bad input: a clear message and exit 2; --help lists the options and exits 0', async () => {
    const host = await healthyHost();
    const unknown = await host.doctor('--bogus');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^tsnet doctor: Unknown option '--bogus'.*see tsnet doctor --help\n$/);
    const badUrl = await host.doctor('--etcd-endpoints', 'ftp://etcd');
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toMatch(/--etcd-endpoints entry "ftp:\/\/etcd" is not http\(s\):\/\/HOST:PORT/);
    const help = await host.doctor('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: tsnet doctor \[options\]/);
  });
});
