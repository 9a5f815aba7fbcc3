import { describe, expect, test } from 'vitest';
import type { CheckResult } from '../../../src/doctor/check.js';
import { discoveryCheck, dockerCheck, rootCheck, socketCheck, socketModeCheck, stateDirCheck } from '../../../src/doctor/services.js';
import { context, healthyProbe, healthySocket, network } from './fake-probe.js';

const one = async (p: Promise<CheckResult | readonly CheckResult[]>) => (await p) as CheckResult;
const SOCK = '/run/docker/plugins/tsnet.sock';

describe('docker.api', () => {
  test('reachable: PASS with its version and the plugin\'s networks', async () => {
    const result = await one(dockerCheck(context(healthyProbe(), {}, { networks: [network('app', 'bridge')] })));
    expect(result).toMatchObject({ status: 'PASS', message: 'dockerd 28.5.2 (API 1.51) on unix:///var/run/docker.sock, 1 network(s) of driver tsnet' });
  });
  test('unreachable: FAIL with the error, not a stack', async () => {
    const result = await one(dockerCheck(context(healthyProbe(), {}, { docker: { reachable: false, error: 'connect ENOENT /var/run/docker.sock' }, networks: undefined })));
    expect(result).toMatchObject({ status: 'FAIL', message: 'dockerd does not answer: connect ENOENT /var/run/docker.sock', fix: 'systemctl start docker' });
  });
  test('--docker-host none: SKIP; an old dockerd: WARN', async () => {
    expect((await one(dockerCheck(context(healthyProbe(), {}, { docker: { reachable: false, skipped: '--docker-host none' } })))).status).toBe('SKIP');
    expect((await one(dockerCheck(context(healthyProbe(), {}, { docker: { reachable: true, version: '19.03.1', apiVersion: '1.40', networks: [] } })))).status).toBe('WARN');
  });
});

describe('plugin.socket', () => {
  test('answers Activate with both interfaces: PASS', async () => {
    expect((await one(socketCheck(context(healthyProbe())))).status).toBe('PASS');
  });
  test('missing: FAIL, start the daemon', async () => {
    const result = await one(socketCheck(context(healthyProbe(), {}, { socket: { exists: false } })));
    expect(result).toMatchObject({ status: 'FAIL', fix: 'systemctl start tsnet' });
    expect(result.message).toBe(`${SOCK} does not exist: the tsnet daemon is not running (or runs with another --socket)`);
  });
  test('a regular file: FAIL, remove it', async () => {
    const result = await one(socketCheck(context(healthyProbe(), {}, { socket: { exists: true, isSocket: false, mode: 0o100644, uid: 0, gid: 0 } })));
    expect(result).toMatchObject({ status: 'FAIL', fix: `rm ${SOCK} && systemctl restart tsnet` });
  });
  test('stale (nobody answers) or not tsnet: FAIL', async () => {
    const stale = await one(socketCheck(context(healthyProbe(), {}, { socket: healthySocket({ activate: { ok: false, error: 'connect ECONNREFUSED' } }) })));
    expect(stale).toMatchObject({ status: 'FAIL', fix: 'systemctl restart tsnet' });
    const other = await one(socketCheck(context(healthyProbe(), {}, { socket: healthySocket({ activate: { ok: true, implements: ['VolumeDriver'] } }) })));
    expect(other.message).toMatch(/not NetworkDriver and IpamDriver: it is not tsnet/);
  });
});

describe('plugin.socket-mode', () => {
  const mode = (m: number, uid = 0, gid = 0) => context(healthyProbe(), {}, { socket: healthySocket({ mode: 0o140000 | m, uid, gid }) });
  test('0660 root:root and 0600 pass', async () => {
    expect(await one(socketModeCheck(mode(0o660)))).toMatchObject({ status: 'PASS', message: `${SOCK} mode 660, owner root` });
    expect((await one(socketModeCheck(mode(0o600)))).status).toBe('PASS');
  });
  test('world-accessible: FAIL, chmod 660', async () => {
    expect(await one(socketModeCheck(mode(0o666)))).toMatchObject({ status: 'FAIL', fix: `chmod 660 ${SOCK}` });
  });
  test('owned by another user, or group-accessible to another group: FAIL, chown', async () => {
    expect(await one(socketModeCheck(mode(0o600, 1000)))).toMatchObject({ status: 'FAIL', fix: `chown root:root ${SOCK}` });
    expect(await one(socketModeCheck(mode(0o660, 0, 999)))).toMatchObject({ status: 'FAIL', fix: `chown root:root ${SOCK}` });
  });
  test('no socket: SKIP', async () => {
    expect((await one(socketModeCheck(context(healthyProbe(), {}, { socket: { exists: false } })))).status).toBe('SKIP');
  });
});

describe('plugin.discovery', () => {
  test('in /run/docker/plugins: PASS; elsewhere with a spec file: PASS; elsewhere without: WARN', async () => {
    expect((await one(discoveryCheck(context(healthyProbe())))).status).toBe('PASS');
    const elsewhere = { socketPath: '/srv/tsnet.sock' };
    expect((await one(discoveryCheck(context(healthyProbe({ pluginSpecFiles: async () => ['/etc/docker/plugins/tsnet.spec'] }), elsewhere)))).status).toBe('PASS');
    expect(await one(discoveryCheck(context(healthyProbe(), elsewhere)))).toMatchObject({ status: 'WARN', fix: 'echo unix:///srv/tsnet.sock > /etc/docker/plugins/tsnet.spec' });
  });
});

describe('state.dir', () => {
  const dir = (state: Awaited<ReturnType<ReturnType<typeof healthyProbe>['directory']>>) => context(healthyProbe({ directory: async () => state }));
  test('writable directory: PASS', async () => {
    expect((await one(stateDirCheck(context(healthyProbe())))).status).toBe('PASS');
  });
  test('immutable (EPERM even for root): FAIL, chattr -i', async () => {
    expect(await one(stateDirCheck(dir({ exists: true, isDirectory: true, writable: 'EPERM' })))).toMatchObject({ status: 'FAIL', fix: 'chattr -i /var/lib/tsnet' });
  });
  test('read-only file system and plain EACCES have their own fixes', async () => {
    expect((await one(stateDirCheck(dir({ exists: true, isDirectory: true, writable: 'EROFS' })))).fix).toMatch(/^mount -o remount,rw/);
    expect((await one(stateDirCheck(dir({ exists: true, isDirectory: true, writable: 'EACCES' })))).fix).toBe('chown root:root /var/lib/tsnet && chmod 700 /var/lib/tsnet');
  });
  test('not a directory: FAIL; missing under a writable parent: WARN; under an unwritable one: FAIL', async () => {
    expect((await one(stateDirCheck(dir({ exists: true, isDirectory: false, writable: 'ENOTDIR' })))).status).toBe('FAIL');
    expect((await one(stateDirCheck(dir({ exists: false, parent: '/var/lib', parentWritable: true })))).status).toBe('WARN');
    expect((await one(stateDirCheck(dir({ exists: false, parent: '/var/lib', parentWritable: 'EROFS' })))).status).toBe('FAIL');
  });
  test('almost full: WARN', async () => {
    expect((await one(stateDirCheck(dir({ exists: true, isDirectory: true, writable: true, freeBytes: 1024 })))).status).toBe('WARN');
  });
});

test('doctor.root: WARN when not root', async () => {
  expect((await one(rootCheck(context(healthyProbe())))).status).toBe('PASS');
  expect(await one(rootCheck(context(healthyProbe({ uid: () => 1000 }))))).toMatchObject({ status: 'WARN', fix: 'sudo tsnet doctor' });
});
