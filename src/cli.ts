#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { DAEMON_HELP, parseDaemonConfig } from './config.js';
import { isTsnetError } from './core/errors.js';
import { startDaemon } from './main.js';

const HELP = `Usage: tsnet <command> [options]

tsnet is a Docker network driver (remote NetworkDriver protocol) for bridge
networks with NAT, published ports and isolation.

Commands:
  daemon       serve the plugin socket (see tsnet daemon --help)
  version      print the version
  help         show this help

Create a network once the daemon runs:
  docker network create -d tsnet --subnet 10.20.0.0/24 mynet
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'daemon':
      return runDaemon(rest);
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
  const config = parseDaemonConfig(args, process.env);
  if (config === 'help') {
    process.stdout.write(DAEMON_HELP);
    return 0;
  }
  const daemon = await startDaemon(config);
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

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const message = isTsnetError(err) ? err.userMessage() : err instanceof Error ? err.stack ?? err.message : String(err);
    process.stderr.write(`tsnet: ${message}\n`);
    process.exit(1);
  },
);
