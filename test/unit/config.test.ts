import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, onTestFinished, test } from 'vitest';
import { DEFAULTS, parseDaemonConfig } from '../../src/config.js';

const parse = (args: string[], env: NodeJS.ProcessEnv = {}) => parseDaemonConfig(args, env);

describe('tsnet daemon options', () => {
  test('defaults, flags and environment variables', () => {
    expect(parse([])).toMatchObject({ socketPath: '/run/docker/plugins/tsnet.sock', stateDir: '/var/lib/tsnet', driverScope: 'local', vxlanPort: 4789, etcd: undefined });
    expect(parse(['--socket', '/tmp/x/foo.sock', '--driver-scope', 'global', '--vxlan-port', '4790', '--host-id', 'node-1'])).toMatchObject({ socketPath: '/tmp/x/foo.sock', driverScope: 'global', vxlanPort: 4790, hostId: 'node-1' });
    expect(parse([], { TSNET_STATE_DIR: '/srv/tsnet', TSNET_ETCD_ENDPOINTS: 'http://10.0.0.5:2379,http://10.0.0.6:2379' })).toMatchObject({ stateDir: '/srv/tsnet', etcd: { endpoints: ['http://10.0.0.5:2379', 'http://10.0.0.6:2379'], prefix: 'tsnet/' } });
    expect(parse(['--default-address-pool', 'base=10.0.0.0/8,size=20']).valueOf()).toMatchObject({ defaultPools: [{ base: '10.0.0.0/8', size: 20 }] });
    expect(parse(['--help'])).toBe('help');
    expect(DEFAULTS.handlerTimeoutMs).toBeGreaterThan(0);
  });

  test('an empty variable is unset (a managed plugin declares its settings empty); --proc-sys', () => {
    const config = parse([], { TSNET_HOST_ID: '', TSNET_ETCD_ENDPOINTS: '', TSNET_VXLAN_PORT: '', TSNET_DOCKER_HOST: '' });
    expect(config).toMatchObject({ hostId: DEFAULTS.hostId, etcd: undefined, vxlanPort: 4789, dockerHost: DEFAULTS.dockerHost, procSys: '/proc/sys' });
    expect(parse(['--proc-sys', '/host/proc/sys/'])).toMatchObject({ procSys: '/host/proc/sys' });
    expect(parse([], { TSNET_PROC_SYS: '/host/proc/sys' })).toMatchObject({ procSys: '/host/proc/sys' });
    expect(() => parse(['--proc-sys', 'proc/sys'])).toThrow(/--proc-sys "proc\/sys" must be an absolute path/);
  });

  test('--docker-netns-dir: unset by default, absolute only', () => {
    expect(parse([])).not.toHaveProperty('dockerNetnsDir');
    expect(parse([], { TSNET_DOCKER_NETNS_DIR: '' })).not.toHaveProperty('dockerNetnsDir');
    expect(parse(['--docker-netns-dir', '/host/docker/netns/'])).toMatchObject({ dockerNetnsDir: '/host/docker/netns' });
    expect(parse([], { TSNET_DOCKER_NETNS_DIR: '/host/docker/netns' })).toMatchObject({ dockerNetnsDir: '/host/docker/netns' });
    expect(() => parse(['--docker-netns-dir', 'docker/netns'])).toThrow(/--docker-netns-dir "docker\/netns" must be an absolute path/);
  });

  test('the etcd password comes from a file and is kept out of argv', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsnet-cfg-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'pw'), 's3cret\n');
    expect(parse(['--etcd-endpoints', 'http://e:2379', '--etcd-user', 'tsnet', '--etcd-password-file', join(dir, 'pw')])).toMatchObject({ etcd: { auth: { username: 'tsnet', password: 's3cret' } } });
    expect(() => parse(['--etcd-endpoints', 'http://u:p@e:2379'])).toThrow(/carries credentials/);
    expect(() => parse(['--etcd-endpoints', 'http://e:2379', '--etcd-user', 'tsnet'])).toThrow(/--etcd-user needs a password/);
    expect(() => parse(['--etcd-endpoints', 'http://e:2379', '--etcd-password-file', join(dir, 'missing')])).toThrow(/--etcd-password-file .*ENOENT/);
  });

  test.each([
    [['--socket', 'relative.sock'], /must be an absolute path ending in .sock/],
    [['--socket', '/run/x/tsnet'], /must be an absolute path ending in .sock/],
    [['--log-level', 'loud'], /is not a level/],
    [['--handler-timeout-ms', '5'], /is not an integer between 100 and 600000/],
    [['--driver-scope', 'swarm'], /is not local or global/],
    [['--vxlan-port', '70000'], /is not a port number/],
    [['--vxlan-local-ip', 'eth0'], /is not an IP address/],
    [['--host-id', 'has space'], /is not a host name/],
    [['--etcd-endpoints', 'etcd:2379'], /is not http\(s\):\/\/HOST:PORT/],
    [['--default-address-pool', '10.0.0.0/8'], /is not base=CIDR,size=N/],
    [['--bogus'], /Unknown option '--bogus'/],
  ])('%j is refused', (args, message) => {
    expect(() => parse(args)).toThrow(message);
  });
});
