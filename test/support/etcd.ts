import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, waitFor } from './exec.js';
import { spawnTracked, type Tracked } from './process.js';

export interface TestEtcd {
  readonly endpoint: string;
  /** Stop etcd (SIGTERM, by its PID); data stays, so start() brings the same cluster back. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Freezes etcd (SIGSTOP, by its PID) for `ms`, as a stalled disk would; resolves once it runs again. */
  pause(ms: number): Promise<void>;
  /** Stop and delete its data directory. */
  destroy(): Promise<void>;
}

/** A free loopback TCP port, found by binding port 0. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * A single-node etcd (Debian's etcd-server) on loopback for one test file, started and stopped
 * by PID. `listenHost` lets an etcd listen on an address inside a test namespace instead.
 */
export async function startTestEtcd(options: { netnsPath?: string; listenHost?: string } = {}): Promise<TestEtcd> {
  const dir = await mkdtemp(join(tmpdir(), 'tsnet-etcd-'));
  const host = options.listenHost ?? '127.0.0.1';
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `http://${host}:${clientPort}`;
  const argv = [
    'etcd', '--name', 'tsnet-test', '--data-dir', join(dir, 'data'),
    '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
    '--listen-peer-urls', `http://${host}:${peerPort}`, '--initial-advertise-peer-urls', `http://${host}:${peerPort}`,
    '--initial-cluster', `tsnet-test=http://${host}:${peerPort}`, '--log-level', 'warn',
  ];
  const wrapped = options.netnsPath ? ['nsenter', `--net=${options.netnsPath}`, ...argv] : argv;
  let proc: Tracked | undefined;
  const start = async () => {
    proc = spawnTracked(wrapped, join(dir, 'etcd.log'), { ...process.env, ETCD_UNSUPPORTED_ARCH: process.env.ETCD_UNSUPPORTED_ARCH ?? '' });
    await waitFor(async () => {
      if (!proc?.isRunning()) throw new Error(`etcd exited: ${(await proc?.log())?.slice(-500)}`);
      const health = await run([...(options.netnsPath ? ['nsenter', `--net=${options.netnsPath}`] : []), 'etcdctl', '--endpoints', endpoint, 'endpoint', 'health'], { allowFail: true, timeoutMs: 5_000 });
      return health.code === 0;
    }, `etcd at ${endpoint} to be healthy`, 30_000, 100);
  };
  await start();
  return {
    endpoint,
    start,
    stop: async () => { await proc?.stop(10_000); },
    pause: async (ms) => {
      const pid = proc?.pid;
      if (pid === undefined || !proc?.isRunning()) throw new Error('etcd is not running');
      process.kill(pid, 'SIGSTOP');
      await new Promise((resolve) => setTimeout(resolve, ms));
      process.kill(pid, 'SIGCONT');
    },
    destroy: async () => {
      await proc?.stop(10_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
