import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { run, type ExecOptions, type ExecResult } from './exec.js';

/** Address of the simulated host on its link to the outside (198.18.0.0/15, the benchmark range). */
export const HOST_UPLINK_IP = '198.18.0.1';
/** Address of the outside namespace on that link. */
export const OUTSIDE_IP = '198.18.0.2';
/** Prefix length of the uplink. */
export const UPLINK_PREFIX = 24;
/** IPv6 address of the simulated host on its link to the outside (a ULA, never routed anywhere). */
export const HOST_UPLINK_IP6 = 'fd00:198:18::1';
/** IPv6 address of the outside namespace on that link. */
export const OUTSIDE_IP6 = 'fd00:198:18::2';
/** IPv6 prefix length of the uplink. */
export const UPLINK_PREFIX6 = 64;
/** Name of the uplink interface inside the simulated host. */
export const HOST_UPLINK_IF = 'uplink0';
/** Name of the interface inside the outside namespace. */
export const OUTSIDE_IF = 'hostlink0';

/**
 * A fresh namespace name for a test: `tsnt-<purpose>-<4 hex>`. Only tests create `tsnt-` names,
 * so anything by that name that outlives a run is a test leftover.
 */
export function uniqueNetnsName(purpose: string): string {
  if (!/^[a-z0-9]{1,12}$/.test(purpose)) throw new Error(`netns purpose "${purpose}" must be 1-12 lower-case letters or digits`);
  return `tsnt-${purpose}-${randomBytes(2).toString('hex')}`;
}

/** The former name of {@link uniqueNetnsName}, kept for existing tests. */
export const testNetnsName = uniqueNetnsName;

/** Where `ip netns add NAME` pins the namespace; what `nsenter --net=` takes. */
export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

/** Whether a named namespace exists (its pin file is present). */
export function netnsExists(name: string): boolean {
  return existsSync(netnsPath(name));
}

/** Creates a named network namespace with its loopback up. Fails if the name is taken. */
export async function createNetns(name: string): Promise<void> {
  await run(['ip', 'netns', 'add', name]);
  await run(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
}

/**
 * Deletes a named namespace; a namespace that is already gone is not an error. The kernel frees
 * it (and the links inside) once no process and no mount holds it any more.
 */
export async function deleteNetns(name: string): Promise<void> {
  if (!netnsExists(name)) return;
  await run(['ip', 'netns', 'delete', name], { allowFail: true });
}

/**
 * Runs a short command inside a namespace with `ip netns exec` (ping, nc, ip, iptables).
 * Not for dockerd: `ip netns exec` remounts /sys and so hides the cgroup mounts.
 */
export function execIn(ns: string, argv: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
  return run(['ip', 'netns', 'exec', ns, ...argv], options);
}

/** The former name of {@link execIn}, kept for existing tests. */
export const inNetns = execIn;

/** One end of a veth pair: its namespace, interface name (≤ 15 bytes) and address in CIDR form. */
export interface VethEnd {
  readonly ns: string;
  readonly ifname: string;
  readonly cidr: string;
}

/** Joins two namespaces with a veth pair, gives each end its address and brings both up. */
export async function linkNetns(a: VethEnd, b: VethEnd): Promise<void> {
  for (const end of [a, b]) {
    if (Buffer.byteLength(end.ifname) > 15) throw new Error(`interface name "${end.ifname}" is longer than 15 bytes`);
  }
  await run(['ip', '-n', a.ns, 'link', 'add', a.ifname, 'type', 'veth', 'peer', 'name', b.ifname, 'netns', b.ns]);
  for (const end of [a, b]) {
    await run(['ip', '-n', end.ns, 'addr', 'add', end.cidr, 'dev', end.ifname]);
    await run(['ip', '-n', end.ns, 'link', 'set', end.ifname, 'up']);
  }
}

/**
 * Links a simulated host to the namespace that plays the rest of the world:
 * host `uplink0` = {@link HOST_UPLINK_IP} and {@link HOST_UPLINK_IP6}, outside `hostlink0` =
 * {@link OUTSIDE_IP} and {@link OUTSIDE_IP6}. The host's default routes (both families) point at
 * the outside, so containers' outbound traffic has somewhere to go; the outside gets no route
 * back to container subnets, so a reply reaches a container only when the host masqueraded the
 * connection.
 */
export async function linkToOutside(hostNs: string, outsideNs: string): Promise<void> {
  await linkNetns(
    { ns: hostNs, ifname: HOST_UPLINK_IF, cidr: `${HOST_UPLINK_IP}/${UPLINK_PREFIX}` },
    { ns: outsideNs, ifname: OUTSIDE_IF, cidr: `${OUTSIDE_IP}/${UPLINK_PREFIX}` },
  );
  await run(['ip', '-n', hostNs, 'route', 'add', 'default', 'via', OUTSIDE_IP]);
  // nodad: usable at once, instead of "tentative" for the second or so duplicate address
  // detection takes (a test binding or publishing on it right away would fail).
  await run(['ip', '-n', hostNs, 'addr', 'add', `${HOST_UPLINK_IP6}/${UPLINK_PREFIX6}`, 'dev', HOST_UPLINK_IF, 'nodad']);
  await run(['ip', '-n', outsideNs, 'addr', 'add', `${OUTSIDE_IP6}/${UPLINK_PREFIX6}`, 'dev', OUTSIDE_IF, 'nodad']);
  await run(['ip', '-n', hostNs, '-6', 'route', 'add', 'default', 'via', OUTSIDE_IP6, 'dev', HOST_UPLINK_IF]);
}
