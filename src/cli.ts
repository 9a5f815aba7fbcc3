#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { isTsnetError, tsnetError } from './core/errors.js';
import { missingNodeFlags } from './core/node-flags.js';
import { version } from './version.js';

// Each command imports what it runs when it runs: the daemon never loads the conformance kit,
// the doctor or the CLI views (their code and zod schemas are resident memory for its whole life).

const HELP = `Usage: tsnet <command> [options]

tsnet is a Docker network plugin (remote NetworkDriver and IpamDriver): bridge
networks with NAT, published ports and isolation, and address pools that can be
shared by hosts through etcd.

Commands:
  daemon                  serve the plugin socket (see tsnet daemon --help)
  status                  the running daemon: store, etcd, Docker, counts
  networks                every tsnet network of this host
  network NAME|ID         one network with its devices, endpoints and ports
  ports [CONTAINER]       published ports (what docker port cannot show)
  peers [NETWORK]         overlay peers and whether the kernel matches etcd
  ipam                    address pools: usage and holders per host
                          (all six: --json for scripts; see tsnet status --help)
  doctor                  check whether this host is ready for tsnet; exit 0
                          when it is (see tsnet doctor --help)
  conformance --socket PATH
                          check any Docker network/IPAM plugin against what
                          dockerd 20.10 and 28.5 expect (with --docker-host and
                          --image, also through a real dockerd); exit 0 when it
                          passes (see tsnet conformance --help)
  ipam release-host HOST  free everything a dead host held in the global address
                          space (see tsnet ipam release-host --help)
  version                 print the version
  help                    show this help

Create a network once the daemon runs:
  docker network create -d tsnet --subnet 10.20.0.0/24 mynet
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'daemon':
      return runDaemon(rest);
    case 'ipam':
      return runIpam(rest);
    case 'status':
    case 'networks':
    case 'network':
    case 'ports':
    case 'peers':
      return (await import('./cli-admin.js')).runAdminCommand(command, rest, process.env, (text) => process.stdout.write(text));
    case 'doctor':
      return runDoctorCommand(rest);
    case 'conformance':
      return (await import('../plugin-spec/conformance/cli.js')).conformanceCommand(rest, { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) });
    case 'version':
    case '--version':
      process.stdout.write(`${version()}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return 0;
    default:
      process.stderr.write(`tsnet: unknown command "${command}"\n\n${HELP}`);
      return 2;
  }
}

async function runDaemon(args: string[]): Promise<number> {
  const [{ DAEMON_HELP, parseDaemonConfig }, { startDaemon }] = await Promise.all([import('./config.js'), import('./main.js')]);
  const config = parseDaemonConfig(args, process.env);
  if (config === 'help') {
    process.stdout.write(DAEMON_HELP);
    return 0;
  }
  const daemon = await startDaemon(config);
  const missing = missingNodeFlags(process.execArgv, process.env.NODE_OPTIONS, process.env);
  if (missing.length > 0) {
    daemon.log.info({ missing }, 'node was started without tsnet\'s memory flags or environment: resident memory is higher when idle and after bursts of calls (deploy/tsnet.service shows the command line and environment)');
  }
  const shutdown = (signal: string) => {
    daemon.log.info({ signal }, 'signal received');
    void daemon.stop().then(() => process.exit(0), (err: unknown) => {
      daemon.log.error({ err }, 'unclean stop');
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  try {
    await daemon.ready;
    daemon.log.info('ready');
  } catch (err) {
    daemon.log.fatal({ err }, 'start-up failed');
    await daemon.stop().catch(() => undefined);
    return 1;
  }
  return new Promise<number>(() => undefined); // runs until a signal
}

/** `tsnet doctor`: bad flags exit 2 with a message; every finding is a line of the report, never a stack. */
async function runDoctorCommand(args: string[]): Promise<number> {
  const [{ DOCTOR_HELP, parseDoctorArgs }, { exitStatus, runDoctor }, { createHostProbe }, { renderJson, renderText }, { ExecRunner }, { pino }] = await Promise.all([
    import('./config-doctor.js'), import('./doctor/doctor.js'), import('./doctor/real-probe.js'), import('./doctor/render.js'), import('./host/runner.js'), import('pino'),
  ]);
  let parsed: ReturnType<typeof parseDoctorArgs>;
  try {
    parsed = parseDoctorArgs(args, process.env);
  } catch (err) {
    if (!isTsnetError(err)) throw err;
    process.stderr.write(`tsnet doctor: ${err.userMessage()}\n`);
    return 2;
  }
  if (parsed === 'help') {
    process.stdout.write(DOCTOR_HELP);
    return 0;
  }
  const runner = new ExecRunner(pino({ level: 'silent' }));
  const results = await runDoctor(createHostProbe({ runner }, parsed.options), parsed.options);
  process.stdout.write(parsed.json ? renderJson(results) : renderText(results));
  return exitStatus(results);
}

const releaseHostHelp = (etcdHelp: string) => `Usage: tsnet ipam release-host HOST --etcd-endpoints URLS [etcd options]

Frees every address, pool reference and cursor that HOST (its --host-id) held in
the global address space, so that a machine that is gone for good never wedges a
pool. Refuses while HOST is alive in etcd (its lease has not expired).

${etcdHelp}`;

async function runIpam(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  // `tsnet ipam [--json …]` is the pools view; `tsnet ipam release-host HOST` the repair.
  if (sub === undefined || sub.startsWith('-')) return (await import('./cli-admin.js')).runAdminCommand('ipam', args, process.env, (text) => process.stdout.write(text));
  const [{ ETCD_FLAGS, ETCD_HELP, parseEtcdConfig }, { EtcdKvStore }, { releaseHost }] = await Promise.all([
    import('./config-etcd.js'), import('../kvstore/etcd/etcd-kv-store.js'), import('./ipam/release-host.js'),
  ]);
  const RELEASE_HOST_HELP = releaseHostHelp(ETCD_HELP);
  if (sub !== 'release-host') {
    process.stderr.write(`tsnet ipam: unknown command "${sub ?? ''}"\n\n${RELEASE_HOST_HELP}`);
    return 2;
  }
  const { values, positionals } = parseArgs({ args: rest, options: { ...ETCD_FLAGS, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  if (values.help) {
    process.stdout.write(RELEASE_HOST_HELP);
    return 0;
  }
  const [host] = positionals;
  if (!host || positionals.length > 1) throw tsnetError('TSNET_CLI_ARGS', 'tsnet ipam release-host takes exactly one HOST', 'e.g. tsnet ipam release-host node-3 --etcd-endpoints http://10.0.0.5:2379');
  const etcd = parseEtcdConfig(values, process.env);
  if (!etcd) throw tsnetError('TSNET_CLI_ARGS', 'release-host needs etcd', 'pass --etcd-endpoints (or set TSNET_ETCD_ENDPOINTS)');
  const store = new EtcdKvStore(etcd);
  try {
    const report = await releaseHost(store, host);
    process.stdout.write(`released host ${host}: ${report.addresses} addresses, ${report.poolReferences} pool references, ${report.poolsRemoved} pools removed\n`);
    return 0;
  } finally {
    await store.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const message = isTsnetError(err) ? err.userMessage() : err instanceof Error ? err.stack ?? err.message : String(err);
    process.stderr.write(`tsnet: ${message}\n`);
    // 2 for a command line tsnet cannot use (as for an unknown command), 1 for anything else.
    process.exit(isTsnetError(err) && err.code === 'TSNET_CLI_ARGS' ? 2 : 1);
  },
);
