import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { ETCD_FLAGS, ETCD_HELP, parseEtcdConfig, type EtcdConfig } from './config-etcd.js';
import { tsnetError } from './core/errors.js';
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
  /** Underlay address for VXLAN; derived from the route to etcd when absent. */
  readonly vxlanLocalIp?: string;
  readonly vxlanPort: number;
  /** What GetCapabilities reports as Scope: "global" only for a legacy cluster store. */
  readonly driverScope: 'local' | 'global';
  /** Log each call's time in kernel programs (kernelMs); costs some throughput. */
  readonly kernelTiming: boolean;
  /** The Docker API tsnet converges with (`unix:///…`), or `none`. */
  readonly dockerHost: string;
  /** The admin API's socket (root only) for the `tsnet` CLI's views, or `none`. */
  readonly adminSocket: string;
  /** Also serve /metrics, /healthz and /readyz on this TCP address. */
  readonly metricsListen?: { readonly host: string; readonly port: number };
  /**
   * Where the kernel's sysctls are read and written (`/proc/sys`). A managed plugin sees its
   * own /proc/sys read-only (runc's default), so its config mounts the host's elsewhere.
   */
  readonly procSys: string;
  /**
   * Where Docker's sandbox files (the SandboxKey of Join, `EXEC_ROOT/netns/ID`) are seen from
   * tsnet's mount namespace; unset: at the SandboxKey's own path. The managed plugin mounts
   * Docker's exec-root elsewhere. Used to tell that a container's sandbox is gone.
   */
  readonly dockerNetnsDir?: string;
  /**
   * Where the resolver for container names across hosts listens (UDP and TCP port 53), added to
   * the loopback device when missing; `none`: no resolver. Only with etcd (names are shared there).
   */
  readonly dnsListen: string;
}

export const DEFAULTS: DaemonConfig = {
  socketPath: '/run/docker/plugins/tsnet.sock',
  stateDir: '/var/lib/tsnet',
  logLevel: 'info',
  handlerTimeoutMs: 25_000,
  bodyLimit: 1024 * 1024,
  hostId: hostname(),
  defaultPools: DEFAULT_POOLS,
  vxlanPort: 4789,
  driverScope: 'local',
  kernelTiming: false,
  dockerHost: 'unix:///var/run/docker.sock',
  adminSocket: '/run/tsnet/admin.sock',
  procSys: '/proc/sys',
  dnsListen: '169.254.53.53',
};

/**
 * The admin socket of a daemon with this state directory: the default one for the default
 * directory, else one inside the directory, so two daemons of one machine (a lab, a test) never
 * share it. The CLI applies the same rule to find the daemon it is asked about.
 */
export function defaultAdminSocket(stateDir: string): string {
  if (stateDir === DEFAULTS.stateDir) return DEFAULTS.adminSocket;
  const inside = `${stateDir.replace(/\/+$/, '')}/admin.sock`;
  // A unix socket path has room for about 100 bytes: a deep state directory gets one named after it.
  return Buffer.byteLength(inside) <= MAX_SOCKET_PATH ? inside : `/run/tsnet/admin-${createHash('sha256').update(stateDir).digest('hex').slice(0, 16)}.sock`;
}

const MAX_SOCKET_PATH = 100;

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
  --vxlan-local-ip IP      underlay address of this host for overlay networks
                           (TSNET_VXLAN_LOCAL_IP), default the source address of
                           the route to etcd
  --vxlan-port N           UDP port of VXLAN (TSNET_VXLAN_PORT), default 4789
  --driver-scope S         local (default, every Docker) or global (Docker
                           swarm, through the managed plugin, or a legacy
                           cluster store: the same network id on all hosts)
                           (TSNET_DRIVER_SCOPE)
  --kernel-timing          add kernelMs (time in ip/iptables) to each call's log
                           line; costs some throughput (TSNET_KERNEL_TIMING=1)
  --docker-host URL        the Docker API of the dockerd that uses this plugin
                           (TSNET_DOCKER_HOST), default ${DEFAULTS.dockerHost};
                           asked in the background, never during a plugin call,
                           to remove networks and endpoints Docker does not have
                           (left by calls Docker saw fail). "none": never ask;
                           such leftovers are then only reported
  --admin-socket PATH      root-only socket of the admin API that tsnet status,
                           networks, network and ports read (TSNET_ADMIN_SOCKET),
                           default ${DEFAULTS.adminSocket} (with another
                           --state-dir: DIR/admin.sock); "none": no admin API;
                           it also serves /metrics (Prometheus), /healthz, /readyz
  --metrics-listen ADDR:PORT  serve /metrics, /healthz and /readyz on TCP too
                           (TSNET_METRICS_LISTEN), e.g. 127.0.0.1:9474
  --proc-sys DIR           where sysctls are read and written (TSNET_PROC_SYS),
                           default /proc/sys; the managed plugin uses a writable
                           mount of the host's, as its own /proc/sys is read-only
  --docker-netns-dir DIR   where Docker's sandbox files (Join's SandboxKey,
                           EXEC_ROOT/netns/ID) are seen from tsnet (TSNET_DOCKER_NETNS_DIR),
                           default the SandboxKey's own directory; the managed plugin
                           sees Docker's exec-root through a mount
  --dns-listen ADDR        IPv4 address of the resolver that answers containers'
                           queries for the names of containers on other hosts of
                           their overlays (TSNET_DNS_LISTEN), default ${DEFAULTS.dnsListen}
                           (added to lo, UDP and TCP port 53); only with etcd.
                           Give it to dockerd first in its "dns" list, before
                           your usual servers (README: names across hosts).
                           "none": no resolver
  -h, --help               show this help

${ETCD_HELP}`;

/**
 * Parses daemon flags (falling back to environment variables, then defaults). An empty variable
 * counts as unset: a managed plugin declares every setting `docker plugin set` may change, with
 * an empty value for "tsnet's default".
 */
export function parseDaemonConfig(argv: readonly string[], processEnv: NodeJS.ProcessEnv): DaemonConfig | 'help' {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(processEnv).filter(([, value]) => value !== ''));
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
        'vxlan-local-ip': { type: 'string' },
        'vxlan-port': { type: 'string' },
        'driver-scope': { type: 'string' },
        'kernel-timing': { type: 'boolean' },
        'docker-host': { type: 'string' },
        'admin-socket': { type: 'string' },
        'metrics-listen': { type: 'string' },
        'proc-sys': { type: 'string' },
        'docker-netns-dir': { type: 'string' },
        'dns-listen': { type: 'string' },
        ...ETCD_FLAGS,
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw tsnetError('TSNET_CLI_ARGS', (err as Error).message, 'see tsnet daemon --help');
  }
  if (values.help) return 'help';
  const socketPath = values.socket ?? env.TSNET_SOCKET ?? DEFAULTS.socketPath;
  const stateDir = values['state-dir'] ?? env.TSNET_STATE_DIR ?? DEFAULTS.stateDir;
  const logLevel = values['log-level'] ?? env.TSNET_LOG_LEVEL ?? DEFAULTS.logLevel;
  const timeout = values['handler-timeout-ms'] ?? env.TSNET_HANDLER_TIMEOUT_MS ?? String(DEFAULTS.handlerTimeoutMs);
  if (!socketPath.startsWith('/') || !socketPath.endsWith('.sock')) {
    throw tsnetError('TSNET_CLI_ARGS', `--socket "${socketPath}" must be an absolute path ending in .sock`, 'Docker derives the driver name from NAME.sock');
  }
  if (!stateDir.startsWith('/')) throw tsnetError('TSNET_CLI_ARGS', `--state-dir "${stateDir}" must be an absolute path`);
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw tsnetError('TSNET_CLI_ARGS', `--log-level "${logLevel}" is not a level`, `use one of ${LOG_LEVELS.join(', ')}`);
  }
  const handlerTimeoutMs = Number(timeout);
  if (!Number.isInteger(handlerTimeoutMs) || handlerTimeoutMs < 100 || handlerTimeoutMs > 600_000) {
    throw tsnetError('TSNET_CLI_ARGS', `--handler-timeout-ms "${timeout}" is not an integer between 100 and 600000`);
  }
  const hostId = values['host-id'] ?? env.TSNET_HOST_ID ?? DEFAULTS.hostId;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(hostId)) {
    throw tsnetError('TSNET_CLI_ARGS', `--host-id "${hostId.slice(0, 64)}" is not a host name`, 'use letters, digits, ".", "_" or "-", at most 63 characters');
  }
  const poolFlags = values['default-address-pool'] ?? [];
  const vxlanLocalIp = values['vxlan-local-ip'] ?? env.TSNET_VXLAN_LOCAL_IP;
  if (vxlanLocalIp !== undefined && isIP(vxlanLocalIp) === 0) throw tsnetError('TSNET_CLI_ARGS', `--vxlan-local-ip "${vxlanLocalIp.slice(0, 64)}" is not an IP address`);
  const vxlanPortText = values['vxlan-port'] ?? env.TSNET_VXLAN_PORT ?? String(DEFAULTS.vxlanPort);
  const vxlanPort = Number(vxlanPortText);
  if (!Number.isInteger(vxlanPort) || vxlanPort < 1 || vxlanPort > 65535) throw tsnetError('TSNET_CLI_ARGS', `--vxlan-port "${vxlanPortText.slice(0, 16)}" is not a port number`, 'e.g. --vxlan-port 4789');
  const driverScope = values['driver-scope'] ?? env.TSNET_DRIVER_SCOPE ?? DEFAULTS.driverScope;
  if (driverScope !== 'local' && driverScope !== 'global') throw tsnetError('TSNET_CLI_ARGS', `--driver-scope "${driverScope.slice(0, 16)}" is not local or global`);
  const dockerHost = values['docker-host'] ?? env.TSNET_DOCKER_HOST ?? DEFAULTS.dockerHost;
  if (dockerHost !== 'none' && !/^unix:\/\/\/\S+$/.test(dockerHost)) throw tsnetError('TSNET_CLI_ARGS', `--docker-host "${dockerHost.slice(0, 80)}" is not unix:///PATH or none`, 'e.g. --docker-host unix:///var/run/docker.sock');
  const adminSocket = values['admin-socket'] ?? env.TSNET_ADMIN_SOCKET ?? defaultAdminSocket(stateDir);
  if (adminSocket !== 'none' && (!adminSocket.startsWith('/') || Buffer.byteLength(adminSocket) > MAX_SOCKET_PATH)) {
    throw tsnetError('TSNET_CLI_ARGS', `--admin-socket "${adminSocket.slice(0, 120)}" is not an absolute path of at most 100 bytes`, 'e.g. --admin-socket /run/tsnet/admin.sock, or none to serve no admin API');
  }
  if (adminSocket === socketPath) throw tsnetError('TSNET_CLI_ARGS', '--admin-socket must not be the plugin socket', 'the admin API is root-only and never served where Docker looks for plugins');
  const metricsText = values['metrics-listen'] ?? env.TSNET_METRICS_LISTEN;
  const metricsListen = metricsText === undefined ? undefined : parseListen(metricsText);
  const procSys = (values['proc-sys'] ?? env.TSNET_PROC_SYS ?? DEFAULTS.procSys).replace(/(.)\/+$/, '$1');
  if (!procSys.startsWith('/')) throw tsnetError('TSNET_CLI_ARGS', `--proc-sys "${procSys.slice(0, 80)}" must be an absolute path`, 'e.g. --proc-sys /proc/sys');
  const dockerNetnsDir = (values['docker-netns-dir'] ?? env.TSNET_DOCKER_NETNS_DIR)?.replace(/(.)\/+$/, '$1');
  if (dockerNetnsDir !== undefined && !dockerNetnsDir.startsWith('/')) {
    throw tsnetError('TSNET_CLI_ARGS', `--docker-netns-dir "${dockerNetnsDir.slice(0, 80)}" must be an absolute path`, 'e.g. --docker-netns-dir /var/run/docker/netns');
  }
  const dnsListen = values['dns-listen'] ?? env.TSNET_DNS_LISTEN ?? DEFAULTS.dnsListen;
  if (dnsListen !== 'none' && isIP(dnsListen) !== 4) {
    throw tsnetError('TSNET_CLI_ARGS', `--dns-listen "${dnsListen.slice(0, 64)}" is not an IPv4 address or none`, `e.g. --dns-listen ${DEFAULTS.dnsListen} (dockerd's "dns" setting takes addresses on port 53 only)`);
  }
  return {
    socketPath, stateDir, adminSocket, dnsListen, ...(metricsListen ? { metricsListen } : {}), logLevel: logLevel as DaemonConfig['logLevel'], handlerTimeoutMs, bodyLimit: DEFAULTS.bodyLimit, hostId,
    defaultPools: poolFlags.length > 0 ? poolFlags.map(parseDefaultPool) : DEFAULTS.defaultPools,
    etcd: parseEtcdConfig(values, env),
    vxlanLocalIp, vxlanPort, driverScope,
    kernelTiming: values['kernel-timing'] === true || env.TSNET_KERNEL_TIMING === '1',
    dockerHost, procSys, ...(dockerNetnsDir ? { dockerNetnsDir } : {}),
  };
}

/** `ADDR:PORT` or `[IPv6]:PORT` for --metrics-listen. */
function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!host || isIP(host) === 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw tsnetError('TSNET_CLI_ARGS', `--metrics-listen "${text.slice(0, 80)}" is not ADDR:PORT`, 'e.g. --metrics-listen 127.0.0.1:9474 or [::1]:9474');
  }
  return { host, port };
}
