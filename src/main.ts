import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { createBridgeDriver } from '../drivers/bridge/index.js';
import type { Driver } from '../drivers/driver.js';
import type { KvStore } from '../kvstore/kvstore.js';
import { openFileKvStore } from '../kvstore/local/index.js';
import { buildApp } from './api/app.js';
import { registerNetworkRoutes } from './api/network-routes.js';
import { registerPluginRoutes } from './api/plugin-routes.js';
import { bindProbe } from './cnm/ports.js';
import { reconcile } from './cnm/reconcile.js';
import { CnmRepository } from './cnm/repository.js';
import { NetworkService } from './cnm/service.js';
import type { DaemonConfig } from './config.js';
import type { NetworkType } from './core/model.js';
import { IptablesFirewall } from './host/firewall-iptables.js';
import { Iproute2HostNet } from './host/iproute2.js';
import { ExecRunner } from './host/runner.js';
import { prepareSocketPath, restrictSocket } from './socket.js';

export interface RunningDaemon {
  readonly log: Logger;
  /** Resolves when start-up (store and reconciliation) is complete. */
  readonly ready: Promise<void>;
  /** Graceful stop: no new calls, in-flight calls finish, socket removed. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The composition root: the only place that constructs concrete backends and drivers. The socket
 * listens first (Docker gives up on a plugin whose socket is late); calls that arrive before the
 * store is open and the kernel reconciled wait for `ready`.
 */
export async function startDaemon(config: DaemonConfig): Promise<RunningDaemon> {
  const log = pino({ level: config.logLevel, base: { service: 'tsnet', pid: process.pid } });
  const runner = new ExecRunner(log.child({ component: 'exec' }));
  const host = new Iproute2HostNet({ runner });
  const drivers = new Map<NetworkType, Driver>([['bridge', createBridgeDriver({ host, log: log.child({ component: 'bridge' }) })]]);
  const firewall = new IptablesFirewall({ runner, log: log.child({ component: 'firewall' }) });

  let service: NetworkService | undefined;
  let store: KvStore | undefined;
  let resolveReady!: () => void;
  let rejectReady!: (err: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => { resolveReady = resolve; rejectReady = reject; });
  ready.catch(() => undefined); // observed by callers; avoid an unhandled rejection here

  const app: FastifyInstance = buildApp({ log, ready, handlerTimeoutMs: config.handlerTimeoutMs, bodyLimit: config.bodyLimit }, (define) => {
    registerPluginRoutes(define);
    registerNetworkRoutes(define, { service: () => requireService(service), scope: { scope: 'local', connectivityScope: 'local' } });
  });

  await prepareSocketPath(config.socketPath);
  await app.listen({ path: config.socketPath });
  await restrictSocket(config.socketPath);
  log.info({ socket: config.socketPath }, 'listening');

  const startup = (async () => {
    const opened = await openFileKvStore({ dir: config.stateDir, log: log.child({ component: 'store' }) });
    store = opened;
    const repo = new CnmRepository(opened);
    service = new NetworkService({ repo, drivers, firewall, probe: bindProbe, log: log.child({ component: 'cnm' }) });
    await reconcile({ repo, service, drivers, host, log: log.child({ component: 'reconcile' }) });
  })();
  startup.then(resolveReady, rejectReady);

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      log.info('stopping: no new calls, finishing the ones in flight');
      await app.close();
      await service?.drain();
      await store?.close();
      log.info('stopped; networks and containers keep working');
    })();
    return stopping;
  };
  return { log, ready, stop };
}

function requireService(service: NetworkService | undefined): NetworkService {
  // Routes await `ready` before calling this, so a missing service means start-up failed.
  if (!service) throw new Error('tsnet failed to start; see the log');
  return service;
}
