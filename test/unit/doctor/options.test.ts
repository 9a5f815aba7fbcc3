import { describe, expect, test } from 'vitest';
import { DOCTOR_HELP, parseDoctorArgs } from '../../../src/config-doctor.js';
import { DEFAULTS } from '../../../src/config.js';

describe('tsnet doctor options', () => {
  test('defaults are the daemon\'s', () => {
    const parsed = parseDoctorArgs([], {});
    expect(parsed).toMatchObject({ json: false, options: { socketPath: DEFAULTS.socketPath, stateDir: DEFAULTS.stateDir, dockerHost: DEFAULTS.dockerHost, vxlanPort: 4789, vxlanPeers: [], etcd: undefined } });
  });

  test('flags and the daemon\'s environment variables are read', () => {
    const parsed = parseDoctorArgs(['--json', '--socket', '/tmp/x/tsnet.sock', '--vxlan-peer', '10.0.0.8', '--vxlan-peer', 'fd00::8', '--etcd-endpoints', 'http://127.0.0.1:2379'], { TSNET_STATE_DIR: '/srv/tsnet', TSNET_VXLAN_PORT: '8472' });
    expect(parsed).toMatchObject({ json: true, options: { socketPath: '/tmp/x/tsnet.sock', stateDir: '/srv/tsnet', vxlanPort: 8472, vxlanPeers: ['10.0.0.8', 'fd00::8'], etcd: { endpoints: ['http://127.0.0.1:2379'] } } });
  });

  test('bad input is a TSNET_CLI_ARGS refusal (the CLI exits 2)', () => {
    expect(() => parseDoctorArgs(['--bogus'], {})).toThrow(expect.objectContaining({ code: 'TSNET_CLI_ARGS', hint: 'see tsnet doctor --help' }));
    expect(() => parseDoctorArgs(['--docker-host', 'tcp://1.2.3.4:2375'], {})).toThrow(expect.objectContaining({ code: 'TSNET_CLI_ARGS' }));
    expect(() => parseDoctorArgs(['--etcd-endpoints', 'ftp://x'], {})).toThrow(expect.objectContaining({ code: 'TSNET_CLI_ARGS' }));
    expect(() => parseDoctorArgs(['--vxlan-peer', 'peer.example'], {})).toThrow(/is not an IP address/);
    expect(() => parseDoctorArgs(['--vxlan-port', '0'], {})).toThrow(/is not a port number/);
    expect(() => parseDoctorArgs(['positional'], {})).toThrow(expect.objectContaining({ code: 'TSNET_CLI_ARGS' }));
  });

  test('--help lists every option', () => {
    expect(parseDoctorArgs(['--help'], {})).toBe('help');
    for (const flag of ['--json', '--socket', '--state-dir', '--docker-host', '--host-id', '--vxlan-port', '--vxlan-local-ip', '--vxlan-peer', '--etcd-endpoints', '--etcd-prefix', '--etcd-ca', '--etcd-cert', '--etcd-key', '--etcd-user', '--etcd-password-file', '--etcd-dial-timeout-ms', '--etcd-timeout-ms', '--help']) {
      expect(DOCTOR_HELP).toContain(flag);
    }
  });
});
