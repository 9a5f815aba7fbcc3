import type { EndpointRecord, NetworkRecord } from '../src/core/model.js';
import { applyAllBestEffort, applyOps } from '../src/host/apply.js';
import type { Logger } from 'pino';
import { inverseOf, type HostNet, type HostOp } from '../src/host/hostnet.js';
import type { Driver, DriverDeps, JoinInfo, NetworkView } from './driver.js';
import type { StateCodec } from './state.js';

/**
 * The kernel objects a network (or one endpoint) needs on this host, as a type declares them:
 * {@link declaredDriver} makes them, rolls a failed step back, removes them and rebuilds them at
 * start-up, so a type says what it needs and never how to apply, undo or reconcile it.
 */
export interface KernelObjects {
  /** The ops that make them, in order; each is idempotent (src/host/hostnet.ts). */
  readonly ops: readonly HostOp[];
  /** Links among those `ops` make that were there before tsnet and stay after it (an adopted bridge). */
  readonly kept?: readonly string[];
  /** What removal runs instead for the kept links: it puts back what tsnet changed on them. */
  readonly restore?: readonly HostOp[];
}

/** Members of {@link Driver} a declared type leaves to {@link declaredDriver}. */
type Derived = 'planNetwork' | 'createNetwork' | 'deleteNetwork' | 'createEndpoint' | 'deleteEndpoint' | 'join' | 'leave' | 'ownedLinks' | 'reconcile' | 'linksOnlyTeardown' | 'firewallRules' | 'isolationInterfaces';

/**
 * A network type told as declarations over its typed state `S`. Everything else of
 * {@link Driver} (gateway needs, published ports, describe…) is passed through as it is.
 */
export interface DeclaredType<S extends object> extends Omit<Driver, Derived> {
  readonly state: StateCodec<S>;
  /** Checks the user's options against the networks that exist (pure, throws naming the option). */
  plan(network: NetworkRecord, others: readonly NetworkRecord[]): S;
  /**
   * Facts only the kernel can tell, asked once before the network's objects are first made
   * (whether a bridge of the user's already exists); stored with its state. Optional.
   */
  learn?(network: NetworkRecord, state: S): Promise<Partial<S>>;
  network(network: NetworkRecord, state: S): KernelObjects;
  /**
   * A link made and removed at once when the network is created, after its objects: a kernel
   * without the type's module then refuses the network, not its first container. Optional.
   */
  probe?(network: NetworkRecord, state: S): HostOp;
  endpoint(network: NetworkRecord, state: S, endpoint: EndpointRecord): KernelObjects;
  join(network: NetworkRecord, state: S, endpoint: EndpointRecord): JoinInfo;
  /** Absent: none (traffic that never crosses the host's forwarding path). */
  firewallRules?: Driver['firewallRules'];
  isolationInterfaces?: Driver['isolationInterfaces'];
}

/** A link-making op is one whose undo removes a link (inverseOf keeps that rule for every op). */
const removedLink = (op: HostOp): string | undefined => inverseOf(op).find((undo) => undo.op === 'remove-link')?.name;

/** Every link the objects name (both ends of a veth pair), kept ones included. */
export function linksOf(objects: KernelObjects): string[] {
  return objects.ops.flatMap((op) => {
    if (op.op === 'ensure-veth') return [op.host, op.peer];
    const name = removedLink(op);
    return name === undefined ? [] : [name];
  });
}

/**
 * What takes the objects away: the links tsnet made, last first (removing a link takes its
 * addresses, routes and ports with it), then the restore of the links it kept.
 */
export function removalOps(objects: KernelObjects): HostOp[] {
  const kept = new Set(objects.kept ?? []);
  const made = objects.ops.flatMap((op) => {
    const name = removedLink(op);
    return name !== undefined && !kept.has(name) ? [{ op: 'remove-link', name } as const] : [];
  });
  return [...made.reverse(), ...(objects.restore ?? [])];
}

/**
 * Rebuilds an endpoint's objects at start-up, unless it is joined and its first link is not on the
 * host: that link is in the sandbox or went with it (the container stopped while tsnet was down),
 * and Docker calls Leave and DeleteEndpoint; nothing to rebuild until then.
 */
export async function reconcileEndpoint(host: HostNet, log: Logger, endpoint: EndpointRecord, objects: KernelObjects): Promise<void> {
  const [first] = linksOf(objects);
  if (endpoint.sandboxKey && first !== undefined && !(await host.getLink(first))) {
    log.info({ endpointId: endpoint.id }, 'joined endpoint\'s link is not on the host; waiting for Docker to remove it');
    return;
  }
  await applyOps(host, objects.ops, log);
}

export function declaredDriver<S extends object>(spec: DeclaredType<S>, { host, log }: DriverDeps): Driver {
  const { state, plan, learn, network: networkObjects, probe, endpoint: endpointObjects, join, firewallRules, isolationInterfaces, ...passed } = spec;
  const endpointOf = (network: NetworkRecord, endpoint: EndpointRecord) => endpointObjects(network, state.of(network), endpoint);

  return {
    ...passed,
    // Removing an endpoint is removing its links, which start-up removes anyway once no record owns them.
    linksOnlyTeardown: true,
    planNetwork(network, others) {
      const planned: object = plan(network, others);
      return { ...planned };
    },

    async createNetwork(network) {
      const planned = state.of(network);
      const learned = (await learn?.(network, planned)) ?? {};
      const current = { ...planned, ...learned };
      const objects = networkObjects(network, current);
      const check = probe?.(network, current);
      try {
        await applyOps(host, [...objects.ops, ...(check ? [check, ...inverseOf(check)] : [])], log);
      } catch (err) {
        // The rollback undid what tsnet made; a kept link also gets back what tsnet changed on it.
        if (objects.restore?.length) await applyAllBestEffort(host, objects.restore, log).catch(() => undefined);
        throw err;
      }
      return { ...learned };
    },

    deleteNetwork: (network) => applyAllBestEffort(host, removalOps(networkObjects(network, state.of(network))), log),
    createEndpoint: (network, endpoint) => applyOps(host, endpointOf(network, endpoint).ops, log),
    deleteEndpoint: (network, endpoint) => applyAllBestEffort(host, removalOps(endpointOf(network, endpoint)), log),
    join: async (network, endpoint) => join(network, state.of(network), endpoint),
    // Docker moves the container's link back out of the sandbox (or the kernel deletes it with
    // the namespace); DeleteEndpoint removes it.
    leave: async () => undefined,
    firewallRules: (view) => firewallRules?.(view) ?? [],
    isolationInterfaces: (network) => isolationInterfaces?.(network) ?? [],

    ownedLinks(view) {
      return [...linksOf(networkObjects(view.network, state.of(view.network))), ...view.endpoints.flatMap((e) => linksOf(endpointOf(view.network, e)))];
    },

    async reconcile(view: NetworkView) {
      await applyOps(host, networkObjects(view.network, state.of(view.network)).ops, log);
      for (const endpoint of view.endpoints) await reconcileEndpoint(host, log, endpoint, endpointOf(view.network, endpoint));
    },
  };
}
