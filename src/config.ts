import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { ETCD_FLAGS, ETCD_HELP, parseEtcdConfig, type EtcdConfig } from './config-etcd.js';
import { invalid } from './core/errors.js';
import { DEFAULT_POOLS, parseDefaultPool, type DefaultPool } from './ipam/default-pools.js';

export interface DaemonConfig {
  readonly socketPath: string;
  readonly stateDir: string;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** Deadline of every protocol call, in milliseconds. */
  readonly handlerTimeoutMs: number;
  /** Largest request body accepted, in bytes. */
  readonly bodyLimit: number;
  /** This host's name in shared state (global allocations record it). */
  readonly hostId: string;
  readonly defaultPools: readonly DefaultPool[];
  readonly etcd?: EtcdConfig;
}

export const DEFAULTS: DaemonConfig = {
  socketPath: '/run/docker/plugins/tsnet.sock',
  stateDir: '/var/lib/tsnet',
  logLevel: 'info',
  handlerTimeoutMs: 25_000,
  bodyLimit: 1024 * 1024,
  hostId: hostname(),
  defaultPools: DEFAULT_POOLS,
};

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

export const DAEMON_HELP = `Usage: tsnet daemon [options]

Serve Docker's remote NetworkDriver and IpamDriver protocols on a unix socket.
Docker finds the plugin by the socket's base name: the default socket makes
"docker network create -d tsnet" and "--ipam-driver tsnet" work.

Options (each also read from the environment variable shown):
  --socket PATH            unix socket to listen on (TSNET_SOCKET)
                           default ${DEFAULTS.socketPath}
  --state-dir DIR          embedded store and lock (TSNET_STATE_DIR)
                           default ${DEFAULTS.stateDir}
  --log-level LEVEL        fatal|error|warn|info|debug|trace (TSNET_LOG_LEVEL)
                           default ${DEFAULTS.logLevel}
  --handler-timeout-ms N   deadline of each Docker call (TSNET_HANDLER_TIMEOUT_MS)
                           default ${DEFAULTS.handlerTimeoutMs}
  --host-id NAME           this host's name in shared state (TSNET_HOST_ID),
                           default the hostname
  --default-address-pool base=CIDR,size=N
                           where pools come from when --subnet is not given;
                           repeatable (default base=10.224.0.0/12,size=24 and
                           base=fd74:736e:6574::/48,size=64)
  -h, --help               show this help

${ETCD_HELP}`;

/** Parses daemon flags (falling back to environment variables, then defaults). */
export function parseDaemonConfig(argv: readonly string[], env: NodeJS.ProcessEnv): DaemonConfig | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        socket: { type: 'string' },
        'state-dir': { type: 'string' },
        'log-level': { type: 'string' },
        'handler-timeout-ms': { type: 'string' },
        'host-id': { type: 'string' },
        'default-address-pool': { type: 'string', multiple: true },
        ...ETCD_FLAGS,
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw invalid('TSNET_CLI_ARGS', (err as Error).message, 'see tsnet daemon --help');
  }
  if (values.help) return 'help';
  const socketPath = values.socket ?? env.TSNET_SOCKET ?? DEFAULTS.socketPath;
  const stateDir = values['state-dir'] ?? env.TSNET_STATE_DIR ?? DEFAULTS.stateDir;
  const logLevel = values['log-level'] ?? env.TSNET_LOG_LEVEL ?? DEFAULTS.logLevel;
  const timeout = values['handler-timeout-ms'] ?? env.TSNET_HANDLER_TIMEOUT_MS ?? String(DEFAULTS.handlerTimeoutMs);
  if (!socketPath.startsWith('/') || !socketPath.endsWith('.sock')) {
    throw invalid('TSNET_CLI_ARGS', `--socket "${socketPath}" must be an absolute path ending in .sock`, 'Docker derives the driver name from NAME.sock');
  }
  if (!stateDir.startsWith('/')) throw invalid('TSNET_CLI_ARGS', `--state-dir "${stateDir}" must be an absolute path`);
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw invalid('TSNET_CLI_ARGS', `--log-level "${logLevel}" is not a level`, `use one of ${LOG_LEVELS.join(', ')}`);
  }
  const handlerTimeoutMs = Number(timeout);
  if (!Number.isInteger(handlerTimeoutMs) || handlerTimeoutMs < 100 || handlerTimeoutMs > 600_000) {
    throw invalid('TSNET_CLI_ARGS', `--handler-timeout-ms "${timeout}" is not an integer between 100 and 600000`);
  }
  const hostId = values['host-id'] ?? env.TSNET_HOST_ID ?? DEFAULTS.hostId;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(hostId)) {
    throw invalid('TSNET_CLI_ARGS', `--host-id "${hostId.slice(0, 64)}" is not a host name`, 'use letters, digits, ".", "_" or "-", at most 63 characters');
  }
  const poolFlags = values['default-address-pool'] ?? [];
  return {
    socketPath, stateDir, logLevel: logLevel as DaemonConfig['logLevel'], handlerTimeoutMs, bodyLimit: DEFAULTS.bodyLimit, hostId,
    defaultPools: poolFlags.length > 0 ? poolFlags.map(parseDefaultPool) : DEFAULTS.defaultPools,
    etcd: parseEtcdConfig(values, env),
  };
}
