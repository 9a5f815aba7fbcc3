import type { Logger } from 'pino';
import { errorText } from '../core/errors.js';
import { isDockerDriverName } from '../core/ids.js';
import { addressOf, networkOf, parseCidr } from '../core/net.js';
import type { AddressSpace } from './address-space.js';

/** One Docker network as the convergence needs it: its IPAM driver and address plan. */
export interface DockerIpamNetwork {
  readonly id: string;
  readonly ipamDriver: string;
  readonly subnets: ReadonlyArray<{ readonly subnet: string; readonly gateway?: string; readonly aux: readonly string[] }>;
}

/** What Docker shows, fetched once per look by the caller (docker-sync.ts). */
export interface DockerIpamView {
  readonly networks: readonly DockerIpamNetwork[];
  /** Container addresses (CIDR strings, "" for none) of one network; undefined when it is gone. */
  endpoints(networkId: string): Promise<ReadonlyArray<{ readonly ipv4: string; readonly ipv6: string }> | undefined>;
}

export interface IpamSyncDeps {
  readonly spaces: readonly AddressSpace[];
  /** The name Docker knows the IPAM driver by (`--ipam-driver NAME`). */
  readonly ipamName: string;
  readonly log: Logger;
  /**
   * An address is requested before its container's endpoint is created and joined, and Docker
   * shows it only after the join: one not shown for this long, in two looks, is released.
   * Default 60 s.
   */
  readonly graceMs?: number;
  readonly now?: () => number;
  /** Told of each release (for the metrics), with how many pool references went at once. Must not throw. */
  readonly onAction?: (action: IpamSyncAction, count: number) => void;
}

/** An address (a shared gateway too) or pool references released because no Docker network of this host uses them. */
export type IpamSyncAction = 'released-address' | 'released-pool-reference';

export interface IpamSyncReport {
  readonly releasedAddresses: readonly string[];
  readonly releasedReferences: readonly string[];
  readonly waiting: number;
  readonly errors: readonly string[];
}

/**
 * Converges what this host holds in tsnet's address spaces with what Docker's networks use:
 * a reference to a pool no Docker network of this host uses, or an address none of them shows
 * (requested by a call Docker took as failed, released by a call tsnet never saw), is
 * released once it has been missing long enough, or at once when the call that allocated it was
 * never answered. Other hosts' holdings are never touched.
 */
export class IpamSync {
  private readonly graceMs: number;
  private readonly now: () => number;
  private readonly missingSince = new Map<string, number>();

  constructor(private readonly deps: IpamSyncDeps) {
    this.graceMs = deps.graceMs ?? 60_000;
    this.now = deps.now ?? Date.now;
  }

  async converge(view: DockerIpamView): Promise<IpamSyncReport> {
    const ours = view.networks.filter((n) => isDockerDriverName(n.ipamDriver, this.deps.ipamName));
    const endpointCache = new Map<string, Promise<ReadonlyArray<{ ipv4: string; ipv6: string }> | undefined>>();
    const endpointsOf = (id: string) => {
      let cached = endpointCache.get(id);
      if (!cached) endpointCache.set(id, (cached = view.endpoints(id)));
      return cached;
    };
    const releasedAddresses: string[] = [];
    const releasedReferences: string[] = [];
    const errors: string[] = [];
    const seen = new Set<string>();
    let waiting = 0;
    for (const space of this.deps.spaces) {
      let holdings;
      try {
        holdings = await space.holdings();
      } catch (err) {
        errors.push(`${space.name}: ${errorText(err)}`);
        continue;
      }
      for (const held of holdings) {
        const pool = canonical(held.pool);
        const users = ours.filter((n) => n.subnets.some((s) => canonical(s.subnet) === pool));
        const known = new Set<string>();
        for (const user of users) {
          for (const s of user.subnets.filter((x) => canonical(x.subnet) === pool)) {
            if (s.gateway) known.add(addressOf(s.gateway));
            s.aux.forEach((a) => known.add(addressOf(a)));
          }
          for (const e of (await endpointsOf(user.id)) ?? []) {
            for (const a of [e.ipv4, e.ipv6]) if (a) known.add(addressOf(a));
          }
        }
        const settle = async (key: string, since: string, what: string, release: () => Promise<void>, doubtful = false) => {
          seen.add(key);
          // Docker never received a doubtful address, so it cannot be about to show it.
          if (!doubtful && !this.missingLongEnough(key, since)) {
            waiting++;
            return;
          }
          try {
            await release();
            this.deps.log.warn({ space: space.name, pool: held.pool, what }, 'released what no Docker network of this host uses');
            return true;
          } catch (err) {
            errors.push(`${space.name} ${held.pool} ${what}: ${errorText(err)}`);
          }
          return false;
        };
        if (held.refs > users.length) {
          const excess = held.refs - users.length;
          if (await settle(`${space.name}|${pool}|refs`, held.touched, `${excess} pool reference(s)`, () => space.releasePool(held.pool, excess))) {
            releasedReferences.push(`${space.name} ${held.pool} ×${excess}`);
            this.deps.onAction?.('released-pool-reference', excess);
          }
        }
        // Docker shows a network's gateway only when the user gave --gateway; one the IPAM chose
        // is in no answer, so a pool's gateway allocations stay while a Docker network uses it.
        for (const address of held.addresses.filter((a) => !known.has(a.ip) && !(a.kind === 'gateway' && users.length > 0))) {
          const what = `${address.doubtful ? 'unanswered ' : ''}address ${address.ip}`;
          if (await settle(`${space.name}|${pool}|${address.ip}`, address.at, what, () => space.releaseAddress(held.pool, address.ip), address.doubtful)) {
            releasedAddresses.push(`${space.name} ${address.ip}`);
            this.deps.onAction?.('released-address', 1);
          }
        }
        if (held.sharedGateway && users.length === 0) {
          const gateway = held.sharedGateway;
          if (await settle(`${space.name}|${pool}|gw`, held.touched, `shared gateway ${gateway}`, () => space.releaseAddress(held.pool, gateway))) {
            releasedAddresses.push(`${space.name} ${gateway} (shared gateway)`);
            this.deps.onAction?.('released-address', 1);
          }
        }
      }
    }
    for (const key of [...this.missingSince.keys()]) if (!seen.has(key)) this.missingSince.delete(key);
    return { releasedAddresses, releasedReferences, waiting, errors };
  }

  /** Missing in two looks at least the grace apart, and itself older than the grace. */
  private missingLongEnough(key: string, since: string): boolean {
    const now = this.now();
    const first = this.missingSince.get(key);
    if (first === undefined) {
      this.missingSince.set(key, now);
      return false;
    }
    return now - first >= this.graceMs && now - Date.parse(since) >= this.graceMs;
  }
}

function canonical(subnet: string): string {
  try {
    return networkOf(parseCidr(subnet, 'subnet'));
  } catch {
    return subnet;
  }
}

