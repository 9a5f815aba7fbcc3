import { errorText } from '../core/errors.js';
import { isTsnetLinkName } from '../core/ids.js';
import { cidrsOverlap, parseCidr, type Cidr } from '../core/net.js';
import { fail, networksOfType, pass, skip, warn, type Check, type CheckResult, type DoctorOptions } from './check.js';
import type { DoctorProbe, RouteState } from './probe.js';

/** VXLAN over IPv4 adds 50 bytes (drivers/overlay/options.ts VXLAN_OVERHEAD). */
export const VXLAN_OVERHEAD = 50;
const MTU_OPTION = 'com.docker.network.driver.mtu';
/** Options that name a host device a network owns besides its tsn* links. */
const DEVICE_OPTIONS = ['com.docker.network.bridge.name', 'parent'];

type Underlay = { readonly dev: string; readonly mtu: number; readonly how: string } | { readonly result: CheckResult };

/** The device VXLAN packets leave by, found the way the daemon finds it (src/main.ts findUnderlay). */
async function findUnderlay(probe: DoctorProbe, options: DoctorOptions): Promise<Underlay> {
  const id = 'overlay.mtu';
  if (options.vxlanLocalIp) {
    const owner = await probe.addressOwner(options.vxlanLocalIp);
    if (!owner) return { result: fail(id, `--vxlan-local-ip ${options.vxlanLocalIp} is not an address of this host: overlays cannot start`, 'pass an address the host has (ip -brief addr) as --vxlan-local-ip') };
    return { ...owner, how: `--vxlan-local-ip ${options.vxlanLocalIp}` };
  }
  const endpoint = options.etcd?.endpoints[0];
  if (!endpoint) return { result: skip(id, 'overlays need etcd, and no --etcd-endpoints is given') };
  const host = new URL(endpoint).hostname.replace(/^\[|\]$/g, '');
  const route = await probe.routeTowards(host);
  if ('error' in route) return { result: fail(id, `no route towards etcd at ${host}: ${route.error}`) };
  if (route.dev === 'lo') return { result: skip(id, `etcd (${host}) is on this host, so the route to it does not show the underlay; pass --vxlan-local-ip`) };
  return { ...route, how: `the route to etcd ${host}` };
}

/** Overlay devices must fit in the underlay: underlay MTU minus 50, as the daemon computes it. */
export const mtuCheck: Check = async ({ probe, options, facts }) => {
  const id = 'overlay.mtu';
  const underlay = await findUnderlay(probe, options);
  if ('result' in underlay) return underlay.result;
  const limit = underlay.mtu - VXLAN_OVERHEAD;
  const links = await probe.links();
  const devices = links.filter((l) => l.kind === 'vxlan' && isTsnetLinkName(l.name));
  const tooBig = devices.filter((l) => l.mtu > limit);
  if (tooBig.length > 0) {
    return fail(id, `underlay ${underlay.dev} has MTU ${underlay.mtu}, so overlays fit ${limit}, but ${tooBig.map((l) => `${l.name} has ${l.mtu}`).join(', ')}: large packets are dropped silently`,
      tooBig.map((l) => `ip link set dev ${l.name} mtu ${limit}`).join(' && '));
  }
  const asked = networksOfType(facts.networks, ['overlay']).filter((n) => Number(n.options[MTU_OPTION]) > limit);
  if (asked.length > 0) {
    return fail(id, `overlay network(s) ${asked.map((n) => `${n.name} (mtu ${n.options[MTU_OPTION]})`).join(', ')} ask for more than the ${limit} the underlay ${underlay.dev} (MTU ${underlay.mtu}) allows: this host cannot join them`,
      `docker network rm NAME && docker network create -d tsnet -o tsnet.type=overlay -o ${MTU_OPTION}=${limit} … NAME`);
  }
  const note = limit < 1280 ? warn(id, `underlay ${underlay.dev} (${underlay.how}) has MTU ${underlay.mtu}: overlays get ${limit}, below the 1280 IPv6 needs`) : undefined;
  return note ?? pass(id, `underlay ${underlay.dev} (${underlay.how}) has MTU ${underlay.mtu}: overlays get ${limit}; ${devices.length} VXLAN device(s) fit`);
};

/**
 * A route to (part of) a tsnet subnet through another interface steals that subnet's traffic:
 * replies to containers leave by the wrong device. The default route is not a conflict, and
 * neither is a route through the network's own devices (its bridge, a macvlan parent).
 */
export const routesCheck: Check = async ({ probe, facts }) => {
  const id = 'routes.conflicts';
  if (!facts.networks) return skip(id, 'Docker cannot be asked for this plugin\'s networks and their subnets (see docker.api)');
  if (facts.networks.length === 0) return pass(id, 'no networks of this plugin, so no subnets to collide with');
  const routes = (await probe.routes()).flatMap((r) => (r.dst === 'default' ? [] : withCidr(r)));
  const conflicts: string[] = [];
  const fixes: string[] = [];
  let subnets = 0;
  for (const network of facts.networks) {
    const own = new Set(DEVICE_OPTIONS.flatMap((o) => network.options[o] ?? []));
    for (const subnet of network.subnets.flatMap((s) => cidrOrEmpty(s))) {
      subnets += 1;
      for (const { route, cidr } of routes) {
        if (route.dev && (isTsnetLinkName(route.dev) || own.has(route.dev))) continue;
        if (!cidrsOverlap(cidr, subnet.cidr)) continue;
        conflicts.push(`route "${describe(route)}" overlaps ${subnet.text} of network ${network.name}`);
        fixes.push(`ip route del ${describe(route)}`);
      }
    }
  }
  if (conflicts.length > 0) return fail(id, `${conflicts.join('; ')}: traffic for those containers leaves by the wrong interface (or recreate the network with another --subnet)`, [...new Set(fixes)].join(' && '));
  return pass(id, `${subnets} subnet(s) of ${facts.networks.length} network(s): no route through another interface overlaps them`);
};

function withCidr(route: RouteState): Array<{ route: RouteState; cidr: Cidr }> {
  const text = route.dst.includes('/') ? route.dst : `${route.dst}/${route.dst.includes(':') ? 128 : 32}`;
  return cidrOrEmpty(text).map(({ cidr }) => ({ route, cidr }));
}

function cidrOrEmpty(text: string): Array<{ text: string; cidr: Cidr }> {
  try {
    return [{ text, cidr: parseCidr(text, 'route') }];
  } catch {
    return [];
  }
}

function describe(route: RouteState): string {
  const type = route.type && route.type !== 'unicast' ? `${route.type} ` : '';
  return `${type}${route.dst}${route.dev ? ` dev ${route.dev}` : ''}`;
}

/**
 * The VXLAN UDP port towards the overlay peers: only addresses the operator gave (--vxlan-peer)
 * or etcd lists as another host's VTEP are probed, never anything else. UDP cannot prove a
 * datagram arrived, only that a host refused it ("port unreachable"), so silence is a PASS.
 */
export const vxlanPortCheck: Check = async ({ probe, options }) => {
  const id = 'vxlan.port';
  const peers = new Map<string, string>(options.vxlanPeers.map((a) => [a, 'given']));
  if (options.etcd) {
    try {
      for (const vtep of await probe.etcdVteps()) if (vtep.host !== options.hostId && !peers.has(vtep.address)) peers.set(vtep.address, `host ${vtep.host}`);
    } catch (err) {
      if (peers.size === 0) return skip(id, `cannot list overlay peers in etcd: ${errorText(err)}`);
    }
  }
  if (peers.size === 0) return skip(id, options.etcd ? 'etcd lists no other host\'s VTEP, and no --vxlan-peer is given' : 'no overlay peers known: no etcd, and no --vxlan-peer is given');
  const refused: string[] = [];
  const unknown: string[] = [];
  for (const [address, who] of peers) {
    const answer = await probe.udpRefused(address, options.vxlanPort);
    if (answer === true) refused.push(`${address} (${who})`);
    else if (answer !== false) unknown.push(`${address} (${who}): ${answer.error}`);
  }
  const port = options.vxlanPort;
  if (refused.length > 0) {
    return fail(id, `UDP ${port} is refused ("port unreachable") by ${refused.join(', ')}: no VXLAN device listens there or a firewall rejects it; overlay traffic to that host is lost`,
      `on each of those hosts: iptables -I INPUT -p udp --dport ${port} -j ACCEPT`);
  }
  if (unknown.length > 0) return warn(id, `cannot probe ${unknown.join('; ')}`);
  return pass(id, `${peers.size} peer(s) did not refuse UDP ${port} (${[...peers.keys()].join(', ')}); UDP cannot prove delivery, only refusal`);
};
