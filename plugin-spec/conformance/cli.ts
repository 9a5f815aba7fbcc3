#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { engineSocketPath, engineVersion } from './engine.js';
import { ipLinkLister, ipLinkProbe } from './links.js';
import { DOCKER_MODE_HOST_PORT, DOCKER_MODE_SUBNET, DOCKER_MODE_SUBNET6, dockerModeSubnet, dockerModeSubnet6 } from './real-docker.js';
import type { CheckInterface, DockerVersion } from './registry.js';
import { renderJson, renderJunit, summaryLine, textLine, totals } from './report.js';
import { announcedInterfaces, checks, runConformance, unknownCheckIds } from './run.js';

/** `--help` of the command (tsnet conformance and the standalone cli.js). */
export const CONFORMANCE_HELP = `Usage: tsnet conformance --socket PATH [options]
       (or, without tsnet: node plugin-spec/conformance/cli.js --socket PATH …)

Checks a Docker network and/or IPAM plugin over its unix socket against what
dockerd 20.10 and 28.5 send and expect: handshake, tolerance of what dockerd
sends, refusals of bad input, IPAM and NetworkDriver semantics, and replays of
recorded dockerd traffic. The kit creates networks, endpoints, pools and
addresses with ids starting c0f0 and pools in 10.197.0.0/16 and 10.199.0.0/16,
and removes them after each check.

Options:
  --socket PATH            the plugin's socket, e.g. /run/docker/plugins/NAME.sock
  --interfaces LIST        network,ipam, or one of them (default: what
                           Plugin.Activate announces)
  --docker 20.10|28|both   whose dockerd behaviour to check (default both)
  --only ID,...            run only these checks
  --skip ID,...            skip these checks (reported as SKIP)
  --format text|json|junit report format (default text: one line per check,
                           then "N passed, M failed, K skipped")
  --timeout SECONDS        per call; a plugin that does not answer fails (default 10)
  --netns PATH|self        the network namespace the plugin makes its interfaces in
                           (/proc/PID/ns/net; "self" for the kit's own), to check
                           Join's interface in the kernel (network.join-interface;
                           uses ip, and nsenter for a PATH: run as root)

Real-Docker mode (optional; the docker.* checks are SKIPs without it):
  --docker-host unix:///PATH  a dockerd's API socket; the kit drives the plugin
                           through it: docker network create -d DRIVER (also
                           --ipam-driver DRIVER when the plugin announces
                           IpamDriver) --subnet ${DOCKER_MODE_SUBNET}, dual-stack by default
                           (--ipv6 --subnet ${DOCKER_MODE_SUBNET6}), two containers from
                           --image (container 2 pings container 1 over IPv4 and
                           IPv6, container 1 published on 127.0.0.1:${DOCKER_MODE_HOST_PORT}), then
                           removes them all and compares the interfaces (ip -o
                           link show, in --netns or the kit's own namespace) with
                           those before
  --image IMAGE            required with --docker-host: an image that dockerd
                           already has, with busybox's sh, nc and ping (never pulled)
  --driver NAME            the plugin's name in that dockerd (default: the socket's
                           base name without .sock, e.g. NAME for NAME.sock)
  --docker-subnet CIDR     the network's IPv4 subnet, /8 to /29, when
                           ${DOCKER_MODE_SUBNET} is in use on that host (default ${DOCKER_MODE_SUBNET})
  --docker-ipv6 on|off     create the network dual-stack and run docker.ipv6 and
                           docker.ping6 (default on); off for an IPv4-only plugin
                           (the two are then SKIPs)
  --docker-subnet6 CIDR    the network's IPv6 subnet, /48 to /120, when
                           ${DOCKER_MODE_SUBNET6} is in use (default ${DOCKER_MODE_SUBNET6})
  --docker-port PORT       the host port on 127.0.0.1 container 1 is published
                           on, when ${DOCKER_MODE_HOST_PORT} is taken (default ${DOCKER_MODE_HOST_PORT}); the
                           port is checked over IPv4 only: publishing on [::1]
                           takes a userland proxy, which a plugin need not run
  --list                   print every check id with its rationale
  -h, --help               show this help

Exit status: 0 when no check failed, 1 when one did, 2 for a command line the
kit cannot use, a socket that does not answer, or a --docker-host where no
dockerd answers; 130 after Ctrl-C or SIGTERM, which in the real-Docker mode
first removes its containers and network.
`;

/** A command line the kit cannot use: exit 2 with this message. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

interface ParsedArgs {
  readonly socketPath: string;
  readonly interfaces?: CheckInterface[];
  readonly docker: DockerVersion[];
  readonly only?: string[];
  readonly skip?: string[];
  readonly format: 'text' | 'json' | 'junit';
  readonly timeoutMs: number;
  readonly netns?: string;
  /** The real-Docker mode: dockerd's socket path, the image, the plugin's driver name. */
  readonly realDocker?: RealDockerArgs;
}

/** The real-Docker mode's options as given; undefined ones take the mode's defaults. */
interface RealDockerArgs {
  readonly engineSocket: string;
  readonly dockerHost: string;
  readonly image: string;
  readonly driver: string;
  readonly subnet?: string;
  readonly hostPort?: number;
  readonly ipv6?: boolean;
  readonly subnet6?: string;
}

/** The command line's values, as parseArgs gives them. */
type Values = Record<string, string | boolean | undefined>;

const list = (value: string | undefined) => value?.split(',').map((s) => s.trim()).filter((s) => s !== '');

/** Parses the command line; 'help' and 'list' are requests, anything unusable a {@link UsageError}. */
export function parseConformanceArgs(args: readonly string[]): ParsedArgs | 'help' | 'list' {
  let values: Values;
  try {
    ({ values } = parseArgs({
      args: [...args], allowPositionals: false, strict: true,
      options: {
        socket: { type: 'string' }, interfaces: { type: 'string' }, docker: { type: 'string' }, only: { type: 'string' },
        skip: { type: 'string' }, format: { type: 'string' }, timeout: { type: 'string' }, netns: { type: 'string' }, list: { type: 'boolean' },
        'docker-host': { type: 'string' }, image: { type: 'string' }, driver: { type: 'string' }, help: { type: 'boolean', short: 'h' },
        'docker-subnet': { type: 'string' }, 'docker-port': { type: 'string' }, 'docker-subnet6': { type: 'string' }, 'docker-ipv6': { type: 'string' },
      },
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}; see --help for the options`);
  }
  if (values.help) return 'help';
  if (values.list) return 'list';
  const socketPath = values.socket as string | undefined;
  if (!socketPath) throw new UsageError('--socket PATH is required: the plugin\'s unix socket, e.g. --socket /run/docker/plugins/NAME.sock');
  const interfaces = list(values.interfaces as string | undefined);
  const badIface = interfaces?.filter((i) => i !== 'network' && i !== 'ipam') ?? [];
  if (badIface.length > 0 || interfaces?.length === 0) throw new UsageError(`--interfaces ${String(values.interfaces)}: expected network, ipam or network,ipam`);
  const dockerArg = (values.docker as string | undefined) ?? 'both';
  const docker: DockerVersion[] | undefined = dockerArg === 'both' ? ['20.10', '28'] : dockerArg === '20.10' ? ['20.10'] : dockerArg === '28' || dockerArg === '28.5' ? ['28'] : undefined;
  if (!docker) throw new UsageError(`--docker ${dockerArg}: expected 20.10, 28 or both`);
  const only = list(values.only as string | undefined);
  const skip = list(values.skip as string | undefined);
  const unknown = unknownCheckIds([...(only ?? []), ...(skip ?? [])]);
  if (unknown.length > 0) throw new UsageError(`unknown check id ${unknown.join(', ')}; the ids are: ${checks.map((c) => c.id).join(', ')} (tsnet conformance --list explains each)`);
  const format = (values.format as string | undefined) ?? 'text';
  if (format !== 'text' && format !== 'json' && format !== 'junit') throw new UsageError(`--format ${format}: expected text, json or junit`);
  const timeout = values.timeout === undefined ? 10 : Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new UsageError(`--timeout ${String(values.timeout)}: expected a number of seconds above 0, e.g. --timeout 30`);
  const netns = values.netns as string | undefined;
  if (netns === '') throw new UsageError('--netns needs a path such as /proc/PID/ns/net, or self');
  const realDocker = parseRealDocker(socketPath, values);
  return { socketPath, ...(netns ? { netns } : {}), ...(realDocker ? { realDocker } : {}), ...(interfaces ? { interfaces: interfaces as CheckInterface[] } : {}), docker, ...(only ? { only } : {}), ...(skip ? { skip } : {}), format, timeoutMs: timeout * 1000 };
}

/** The real-Docker mode's options other than --docker-host; each needs --docker-host. */
const MODE_OPTIONS: ReadonlyArray<[string, string]> = [
  ['image', 'pass --docker-host unix:///PATH (a dockerd\'s API socket) too'],
  ['driver', 'pass --docker-host unix:///PATH and --image IMAGE too'],
  ['docker-subnet', 'pass --docker-host unix:///PATH and --image IMAGE too'],
  ['docker-subnet6', 'pass --docker-host unix:///PATH and --image IMAGE too'],
  ['docker-ipv6', 'pass --docker-host unix:///PATH and --image IMAGE too'],
  ['docker-port', 'pass --docker-host unix:///PATH and --image IMAGE too'],
];

/**
 * --docker-host, --image, --driver and the network's options: the mode's options come with
 * --docker-host only; a unix socket, a driver name Docker accepts, an image.
 */
function parseRealDocker(socketPath: string, values: Values): RealDockerArgs | undefined {
  const dockerHost = values['docker-host'] as string | undefined;
  if (dockerHost === undefined) {
    const stray = MODE_OPTIONS.find(([name]) => values[name] !== undefined);
    if (stray) throw new UsageError(`--${stray[0]} is for the real-Docker mode: ${stray[1]}`);
    return undefined;
  }
  const where = parseRealDockerNetwork(values);
  const engineSocket = engineSocketPath(dockerHost);
  if (!engineSocket) throw new UsageError(`--docker-host ${dockerHost}: expected unix:///PATH, e.g. unix:///run/docker.sock (the kit speaks to dockerd over its unix socket only)`);
  const image = values.image as string | undefined;
  if (!image) throw new UsageError('--docker-host needs --image IMAGE: an image that dockerd already has, with busybox\'s sh, nc and ping (the kit never pulls)');
  const driver = (values.driver as string | undefined) ?? basename(socketPath).replace(/\.sock$/, '');
  if (!/^[A-Za-z0-9][A-Za-z0-9_.:/-]*$/.test(driver)) throw new UsageError(`--driver ${driver}: not a plugin name dockerd can look up; pass the name the plugin has in that dockerd, e.g. --driver myplugin for /run/docker/plugins/myplugin.sock`);
  return { engineSocket, dockerHost, image, driver, ...where };
}

/**
 * --docker-subnet, --docker-ipv6, --docker-subnet6 and --docker-port: an IPv4 subnet with room
 * for a gateway and two containers, on or off, an IPv6 subnet (only with IPv6 on), a TCP port.
 */
function parseRealDockerNetwork(values: Values): Pick<RealDockerArgs, 'subnet' | 'hostPort' | 'ipv6' | 'subnet6'> {
  const subnetArg = values['docker-subnet'] as string | undefined;
  const net = subnetArg === undefined ? undefined : dockerModeSubnet(subnetArg);
  if (subnetArg !== undefined && !net) throw new UsageError(`--docker-subnet ${subnetArg}: expected an IPv4 subnet from /8 to /29 without host bits, e.g. --docker-subnet 10.250.7.0/24`);
  const ipv6Arg = values['docker-ipv6'] as string | undefined;
  if (ipv6Arg !== undefined && ipv6Arg !== 'on' && ipv6Arg !== 'off') throw new UsageError(`--docker-ipv6 ${ipv6Arg}: expected on or off, e.g. --docker-ipv6 off for a plugin without IPv6`);
  const subnet6Arg = values['docker-subnet6'] as string | undefined;
  const net6 = subnet6Arg === undefined ? undefined : dockerModeSubnet6(subnet6Arg);
  if (subnet6Arg !== undefined && !net6) throw new UsageError(`--docker-subnet6 ${subnet6Arg}: expected an IPv6 subnet from /48 to /120 without host bits, e.g. --docker-subnet6 fd5c:6e65:7444::/64`);
  if (net6 && ipv6Arg === 'off') throw new UsageError(`--docker-subnet6 ${subnet6Arg ?? ''} is for a dual-stack network: drop it, or --docker-ipv6 off`);
  const portArg = values['docker-port'] as string | undefined;
  const hostPort = portArg === undefined ? undefined : Number(portArg);
  if (hostPort !== undefined && !(Number.isInteger(hostPort) && hostPort >= 1 && hostPort <= 65535 && /^\d+$/.test(portArg ?? ''))) throw new UsageError(`--docker-port ${portArg ?? ''}: expected a TCP port from 1 to 65535, e.g. --docker-port 27198`);
  return {
    ...(net ? { subnet: net.subnet } : {}), ...(hostPort !== undefined ? { hostPort } : {}),
    ...(ipv6Arg === 'off' ? { ipv6: false } : {}), ...(net6 ? { subnet6: net6.subnet } : {}),
  };
}

/** Where the command writes. */
export interface Output {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** The whole command: parse, reach the plugin, run, report. Resolves to the exit status. */
export async function conformanceCommand(args: readonly string[], out: Output, prog = 'tsnet conformance'): Promise<number> {
  let parsed: ReturnType<typeof parseConformanceArgs>;
  try {
    parsed = parseConformanceArgs(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    out.stderr(`${prog}: ${err.message}\n`);
    return 2;
  }
  if (parsed === 'help') { out.stdout(CONFORMANCE_HELP); return 0; }
  if (parsed === 'list') { out.stdout(checks.map((c) => `${c.id}\n    ${c.rationale}\n`).join('')); return 0; }
  let announced: CheckInterface[];
  try {
    announced = await announcedInterfaces(parsed.socketPath, parsed.timeoutMs);
  } catch (err) {
    out.stderr(`${prog}: no plugin answers Plugin.Activate at ${parsed.socketPath}: ${(err as Error).message}; start the plugin, or pass the path of its socket (Docker looks in /run/docker/plugins/)\n`);
    return 2;
  }
  const interfaces = parsed.interfaces ?? announced;
  if (interfaces.length === 0) {
    out.stderr(`${prog}: the plugin at ${parsed.socketPath} announces neither NetworkDriver nor IpamDriver in Plugin.Activate; there is nothing to check\n`);
    return 2;
  }
  const real = parsed.realDocker;
  if (real) {
    try {
      await engineVersion(real.engineSocket, parsed.timeoutMs);
    } catch (err) {
      out.stderr(`${prog}: no dockerd answers at --docker-host ${real.dockerHost}: ${(err as Error).message}; start it, or pass its API socket (e.g. unix:///run/docker.sock)\n`);
      return 2;
    }
  }
  // With real containers at stake, Ctrl-C (or a SIGTERM) removes them before the kit exits.
  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort();
  if (real) for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, onSignal);
  const report = await runConformance({
    socketPath: parsed.socketPath, interfaces, docker: parsed.docker, timeoutMs: parsed.timeoutMs, signal: interrupt.signal,
    ...(parsed.netns ? { linkProbe: ipLinkProbe(parsed.netns) } : {}),
    ...(real ? { realDocker: {
      engineSocket: real.engineSocket, image: real.image, driver: real.driver, links: ipLinkLister(parsed.netns ?? 'self'), timeoutMs: Math.max(60_000, parsed.timeoutMs),
      ...(real.subnet ? { subnet: real.subnet } : {}), ...(real.hostPort !== undefined ? { hostPort: real.hostPort } : {}),
      ...(real.ipv6 === false ? { ipv6: false } : {}), ...(real.subnet6 ? { subnet6: real.subnet6 } : {}),
    } } : {}),
    ...(parsed.only ? { only: parsed.only } : {}), ...(parsed.skip ? { skip: parsed.skip } : {}),
    ...(parsed.format === 'text' ? { onResult: (r) => out.stdout(textLine(r)) } : {}),
  }).finally(() => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.off(sig, onSignal);
  });
  if (interrupt.signal.aborted) {
    const left = report.dockerLeftovers ?? [];
    out.stderr(`${prog}: interrupted; ${left.length === 0 ? 'removed the real-Docker mode\'s containers and network' : `could not remove ${left.join('; ')}`}\n`);
    return 130;
  }
  out.stdout(parsed.format === 'text' ? summaryLine(report) : parsed.format === 'json' ? renderJson(report) : renderJunit(report));
  return totals(report).failed === 0 && (report.dockerLeftovers?.length ?? 0) === 0 ? 0 : 1;
}

function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  conformanceCommand(process.argv.slice(2), { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t) }, 'conformance').then(
    (code) => { process.exitCode = code; },
    (err: unknown) => { process.stderr.write(`conformance: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`); process.exitCode = 1; },
  );
}
