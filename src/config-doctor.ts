import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { ETCD_FLAGS, ETCD_HELP } from './config-etcd.js';
import { DEFAULTS, parseDaemonConfig } from './config.js';
import { tsnetError } from './core/errors.js';
import type { DoctorOptions } from './doctor/check.js';

export const DOCTOR_HELP = `Usage: tsnet doctor [options]

Checks whether this host is ready for tsnet and prints one line per check:
its id, PASS, FAIL, WARN or SKIP, what was found and, for a failure, the command
that fixes it. Give it the flags (or environment) the daemon runs with, so it
checks the same socket, state directory, Docker and etcd.

Exit status: 0 when no check fails (WARN and SKIP do not fail), 1 when one
does, 2 when an option is wrong.

Options (each also read from the environment variable the daemon reads):
  --json                   print a JSON array of {id, status, message, fix?}
  --socket PATH            the daemon's plugin socket (TSNET_SOCKET)
                           default ${DEFAULTS.socketPath}
  --state-dir DIR          the daemon's state directory (TSNET_STATE_DIR)
                           default ${DEFAULTS.stateDir}
  --docker-host URL        the Docker API to ask (TSNET_DOCKER_HOST), default
                           ${DEFAULTS.dockerHost}; "none" skips the Docker checks
  --host-id NAME           this host's name in etcd (TSNET_HOST_ID), default the
                           hostname: its own VTEP is not probed
  --vxlan-port N           UDP port of VXLAN (TSNET_VXLAN_PORT), default ${DEFAULTS.vxlanPort}
  --vxlan-local-ip IP      underlay address (TSNET_VXLAN_LOCAL_IP); default the
                           source of the route to etcd, as the daemon does
  --vxlan-peer IP          also probe the VXLAN port of this overlay peer;
                           repeatable (the VTEPs etcd lists are probed anyway)
  --dns-listen ADDR|none   the daemon's resolver of names across hosts
                           (TSNET_DNS_LISTEN), default ${DEFAULTS.dnsListen}; with etcd,
                           doctor checks it answers and that dockerd's "dns" in
                           /etc/docker/daemon.json lists it first
  -h, --help               show this help

${ETCD_HELP}`;

/** Parses `tsnet doctor` flags with the daemon's own validation and defaults; throws TSNET_CLI_ARGS on bad input. */
export function parseDoctorArgs(argv: readonly string[], env: NodeJS.ProcessEnv): { options: DoctorOptions; json: boolean } | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        json: { type: 'boolean' },
        socket: { type: 'string' },
        'state-dir': { type: 'string' },
        'docker-host': { type: 'string' },
        'host-id': { type: 'string' },
        'vxlan-port': { type: 'string' },
        'vxlan-local-ip': { type: 'string' },
        'vxlan-peer': { type: 'string', multiple: true },
        'dns-listen': { type: 'string' },
        ...ETCD_FLAGS,
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw tsnetError('TSNET_CLI_ARGS', (err as Error).message, 'see tsnet doctor --help');
  }
  if (values.help) return 'help';
  const { json, 'vxlan-peer': peers = [], help: _help, ...shared } = values;
  // The daemon's parser checks and defaults every flag doctor shares with it.
  const daemonArgv = Object.entries(shared).flatMap(([flag, value]) => (typeof value === 'string' ? [`--${flag}`, value] : []));
  const config = parseDaemonConfig(daemonArgv, env);
  if (config === 'help') return 'help';
  for (const peer of peers) {
    if (isIP(peer) === 0) throw tsnetError('TSNET_CLI_ARGS', `--vxlan-peer "${peer.slice(0, 64)}" is not an IP address`, 'e.g. --vxlan-peer 10.0.0.6');
  }
  return {
    json: json === true,
    options: {
      socketPath: config.socketPath, stateDir: config.stateDir, dockerHost: config.dockerHost, etcd: config.etcd,
      hostId: config.hostId, vxlanPort: config.vxlanPort, vxlanLocalIp: config.vxlanLocalIp, vxlanPeers: peers, dnsListen: config.dnsListen,
    },
  };
}
