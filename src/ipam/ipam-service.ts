import { tsnetError } from '../core/errors.js';
import { truncate } from '../core/ids.js';
import { parseCidr } from '../core/net.js';
import type { ReplyWatch } from '../core/reply.js';
import type { AddressSpace } from './address-space.js';
import { chooseDefaultPool, type DefaultPool } from './default-pools.js';

export const LOCAL_SPACE = 'tsnet-local';
export const GLOBAL_SPACE = 'tsnet-global';
/** `--ipam-opt tsnet.scope=global` puts a pool in the shared space whatever Docker asked for. */
export const SCOPE_OPTION = 'tsnet.scope';
const GATEWAY_TYPE = 'com.docker.network.gateway';
/** The `--ipam-opt` keys a user may give; any other key of the user's is refused as a typo. */
const KNOWN_POOL_OPTIONS = [SCOPE_OPTION];

/**
 * Option keys Docker itself puts in IPAM requests (moby master, libnetwork ipamapi/labels.go,
 * netlabel/labels.go, network.go, cnmallocator/networkallocator.go). They are Docker's, not the
 * user's, so RequestPool accepts them beside {@link KNOWN_POOL_OPTIONS}; RequestAddress refuses
 * no option at all, since Docker passes the network's `--ipam-opt` there too (swarm).
 */
export const DOCKER_IPAM_OPTIONS = {
  /**
   * Swarm's allocator sets it to "true" in RequestPool and RequestAddress: hand addresses out
   * serially rather than lowest-free-first. tsnet always does, so "true" is honoured by nature.
   */
  serial: 'com.docker.network.ipam.serial',
  /**
   * Marks the gateway's RequestAddress. Swarm's allocator leaves it in the options map it then
   * reuses for the network's next RequestPool, so it may reach RequestPool too (ignored there).
   */
  requestAddressType: 'RequestAddressType',
  /** Docker 29+: the endpoint's name, in every container's RequestAddress (libnetwork network.go). */
  endpointName: 'com.docker.network.endpoint.name',
  /** The endpoint's MAC, in RequestAddress, only to an IPAM that asks (RequiresMACAddress; tsnet does not). */
  macAddress: 'com.docker.network.endpoint.macaddress',
} as const;

/** RequestPool keys that come from Docker rather than from the user's `--ipam-opt`. */
const DOCKER_POOL_OPTIONS: readonly string[] = [DOCKER_IPAM_OPTIONS.serial, DOCKER_IPAM_OPTIONS.requestAddressType];

export interface IpamServiceDeps {
  readonly local: AddressSpace;
  /** Absent when the daemon runs without etcd. */
  readonly global?: AddressSpace;
  readonly defaultPools: readonly DefaultPool[];
}

export interface RequestPoolInput {
  readonly addressSpace: string;
  readonly pool?: string;
  readonly subPool?: string;
  readonly options: Readonly<Record<string, string>>;
  readonly v6: boolean;
}

/**
 * Docker's IpamDriver verbs over two address spaces: a local one per host and a global one in
 * etcd. Pool ids name their space and pool ("tsnet-local/10.1.0.0/16/10.1.2.0/24"), so
 * every later call finds its pool without any other lookup.
 */
export class IpamService {
  constructor(private readonly deps: IpamServiceDeps) {}

  capabilities() {
    // Allocations are persisted, so Docker need not replay them after a restart.
    return { requiresMacAddress: false, requiresRequestReplay: false };
  }

  defaultAddressSpaces() {
    return { local: LOCAL_SPACE, global: GLOBAL_SPACE };
  }

  async requestPool(input: RequestPoolInput): Promise<{ poolId: string; pool: string }> {
    const unknown = Object.keys(input.options).filter((k) => !KNOWN_POOL_OPTIONS.includes(k) && !DOCKER_POOL_OPTIONS.includes(k));
    if (unknown.length > 0) {
      throw tsnetError('TSNET_IPAM_OPT_UNKNOWN', `the tsnet IPAM does not know --ipam-opt ${unknown.slice(0, 3).map((k) => JSON.stringify(k)).join(', ')}`, `known options: ${KNOWN_POOL_OPTIONS.join(', ')}`);
    }
    const serial = input.options[DOCKER_IPAM_OPTIONS.serial];
    if (serial !== undefined && serial !== 'true') {
      throw tsnetError('TSNET_IPAM_OPT_INVALID', `--ipam-opt ${DOCKER_IPAM_OPTIONS.serial}="${truncate(serial)}" asks for lowest-free-first allocation, which tsnet does not do: it always hands out addresses serially`, `leave the option out, or pass ${DOCKER_IPAM_OPTIONS.serial}=true`);
    }
    if (input.subPool && !input.pool) throw tsnetError('TSNET_IPAM_SUBPOOL', `ip-range ${input.subPool} was given without a subnet`, 'pass --subnet along with --ip-range');
    if (input.pool && parseCidr(input.pool, 'Pool').family !== (input.v6 ? 6 : 4)) {
      throw tsnetError('TSNET_IPAM_FAMILY', `pool ${input.pool} is not an IPv${input.v6 ? 6 : 4} subnet`, 'check the --subnet values');
    }
    const space = this.space(input.addressSpace, input.options[SCOPE_OPTION]);
    const family = input.v6 ? 6 : 4;
    const pool = await space.requestPool({
      pool: input.pool ?? ((existing) => chooseDefaultPool(this.deps.defaultPools, family, existing)),
      subPool: input.subPool || undefined,
      v6: input.v6,
      options: input.options,
    });
    return { poolId: `${space.name}/${pool}/${input.subPool ?? ''}`, pool };
  }

  async releasePool(poolId: string): Promise<void> {
    const { space, pool } = this.parsePoolId(poolId);
    await space.releasePool(pool);
  }

  async requestAddress(poolId: string, address: string | undefined, options: Readonly<Record<string, unknown>>, reply?: ReplyWatch): Promise<string> {
    const { space, pool } = this.parsePoolId(poolId);
    return space.requestAddress(pool, address || undefined, options.RequestAddressType === GATEWAY_TYPE, reply);
  }

  async releaseAddress(poolId: string, address: string): Promise<void> {
    const { space, pool } = this.parsePoolId(poolId);
    await space.releaseAddress(pool, address);
  }

  private space(name: string, scope: string | undefined): AddressSpace {
    if (scope !== undefined && scope !== 'local' && scope !== 'global') {
      throw tsnetError('TSNET_IPAM_OPT_INVALID', `--ipam-opt ${SCOPE_OPTION}="${truncate(scope)}" is not local or global`, `pass --ipam-opt ${SCOPE_OPTION}=global to share the pool between hosts`);
    }
    const wantGlobal = scope === 'global' || (scope === undefined && name === GLOBAL_SPACE);
    if (!wantGlobal && scope === undefined && name !== LOCAL_SPACE) {
      throw tsnetError('TSNET_IPAM_SPACE_UNKNOWN', `address space "${truncate(name)}" is not one of tsnet's (${LOCAL_SPACE}, ${GLOBAL_SPACE})`, 'let Docker choose the address space');
    }
    if (!wantGlobal) return this.deps.local;
    if (!this.deps.global) {
      throw tsnetError('TSNET_IPAM_NO_ETCD', 'the global address space needs etcd, and this tsnet daemon runs without it', 'start tsnet daemon with --etcd-endpoints http://HOST:2379, or use a local pool');
    }
    return this.deps.global;
  }

  private parsePoolId(poolId: string): { space: AddressSpace; pool: string } {
    const match = /^([^/]+)\/([^/]+\/\d{1,3})\/(.*)$/.exec(poolId);
    if (!match) throw tsnetError('TSNET_IPAM_POOL_ID', `pool id "${truncate(poolId)}" is not one tsnet issued`, 'the network may have been created with another IPAM driver');
    const [, spaceName = '', pool = ''] = match;
    return { space: this.space(spaceName, spaceName === GLOBAL_SPACE ? 'global' : spaceName === LOCAL_SPACE ? 'local' : undefined), pool };
  }
}
