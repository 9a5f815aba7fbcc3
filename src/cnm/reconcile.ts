import type { Logger } from 'pino';
import type { Driver } from '../../drivers/driver.js';
import { isTsnetLinkName } from '../core/ids.js';
import type { NetworkType } from '../core/model.js';
import type { HostNet } from '../host/hostnet.js';
import type { CnmRepository } from './repository.js';
import type { NetworkService } from './service.js';

export interface ReconcileDeps {
  readonly repo: CnmRepository;
  readonly service: NetworkService;
  readonly drivers: ReadonlyMap<NetworkType, Driver>;
  readonly host: HostNet;
  readonly log: Logger;
  /** Told of each thing reconciliation does (for the metrics). Must not throw. */
  readonly onAction?: (action: ReconcileAction) => void;
}

/**
 * What start-up reconciliation does: undo a call cut off before it answered, re-establish a
 * network's devices and rules from its record (drivers recreate only what is missing), remove a
 * tsnet-named link no record owns, rewrite the firewall from the records; `restore-failed` for a
 * network it could not re-establish.
 */
export type ReconcileAction = 'rolled-back-endpoint' | 'rolled-back-network' | 'restored-network' | 'restore-failed' | 'removed-leftover-link' | 'rewrote-firewall';

export interface ReconcileReport {
  readonly networks: number;
  readonly endpoints: number;
  readonly rolledBack: number;
  readonly leftoversRemoved: string[];
  readonly failures: string[];
}

/**
 * Start-up: make the kernel agree with the store. Records still `pending` belong to calls that
 * never answered Docker (it rolled them back), so they are undone; `ready` records are rebuilt
 * where the kernel lacks them; tsnet-named links no record owns are removed; and the firewall
 * is rewritten from the records. Nothing tsnet does not own is looked at twice.
 */
export async function reconcile(deps: ReconcileDeps): Promise<ReconcileReport> {
  const { repo, drivers, host, log } = deps;
  const did = (action: ReconcileAction) => deps.onAction?.(action);
  await repo.load();
  let rolledBack = 0;
  const failures: string[] = [];
  for (const network of repo.allNetworks()) {
    const driver = drivers.get(network.type);
    if (!driver) {
      failures.push(`network ${network.id}: no ${network.type} driver in this daemon`);
      did('restore-failed');
      continue;
    }
    for (const endpoint of repo.endpointsOf(network.id).filter((e) => e.state === 'pending')) {
      await driver.deleteEndpoint(network, endpoint).catch((err: unknown) => failures.push(`endpoint ${endpoint.id}: ${String(err)}`));
      await repo.deleteEndpoint(network.id, endpoint.id);
      rolledBack++;
      did('rolled-back-endpoint');
    }
    if (network.state === 'pending') {
      await driver.deleteNetwork(network).catch((err: unknown) => failures.push(`network ${network.id}: ${String(err)}`));
      await repo.deleteNetwork(network.id);
      rolledBack++;
      did('rolled-back-network');
      continue;
    }
    try {
      await driver.reconcile({ network, endpoints: repo.endpointsOf(network.id) });
      did('restored-network');
    } catch (err) {
      failures.push(`network ${network.id}: ${String(err)}`);
      did('restore-failed');
      log.error({ err, networkId: network.id }, 'could not restore network');
    }
  }
  const leftoversRemoved = await removeLeftoverLinks(deps);
  await deps.service.syncFirewall();
  did('rewrote-firewall');
  const report = { networks: repo.allNetworks().length, endpoints: repo.allEndpoints().length, rolledBack, leftoversRemoved, failures };
  log.info(report, 'reconciled kernel with store');
  return report;
}

async function removeLeftoverLinks(deps: ReconcileDeps): Promise<string[]> {
  const { repo, drivers, host, log } = deps;
  const owned = new Set<string>();
  for (const network of repo.allNetworks()) {
    const driver = drivers.get(network.type);
    driver?.ownedLinks({ network, endpoints: repo.endpointsOf(network.id) }).forEach((name) => owned.add(name));
  }
  const removed: string[] = [];
  // Endpoint links before bridges, so a bridge is never deleted while its ports are counted.
  const leftovers = (await host.listLinks()).filter((l) => isTsnetLinkName(l.name) && !owned.has(l.name)).sort((a, b) => (a.kind === 'bridge' ? 1 : 0) - (b.kind === 'bridge' ? 1 : 0));
  for (const link of leftovers) {
    try {
      await host.apply({ op: 'remove-link', name: link.name });
      removed.push(link.name);
      deps.onAction?.('removed-leftover-link');
    } catch (err) {
      log.warn({ err, link: link.name }, 'could not remove leftover link');
    }
  }
  return removed;
}
