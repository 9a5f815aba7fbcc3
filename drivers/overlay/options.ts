import { z } from 'zod';
import { tsnetError } from '../../src/core/errors.js';
import { linkName, truncate } from '../../src/core/ids.js';
import { parseIntOption, rejectUnknownOptions } from '../../src/core/options.js';
import { parseChoice } from '../parent.js';
import { stateCodec } from '../state.js';

export const OVERLAY_OPTIONS = {
  name: 'tsnet.overlay.name',
  vni: 'tsnet.vni',
  port: 'tsnet.vxlan.port',
  mtu: 'com.docker.network.driver.mtu',
  datapath: 'tsnet.overlay.datapath',
  gateway: 'tsnet.overlay.gateway',
} as const;

/**
 * How containers attach to the VXLAN device on a host. `macvlan` (the default): each container's
 * interface is a macvlan link of the VXLAN device, so frames go straight from the container into
 * the tunnel, with no bridge and so no br_netfilter pass through the host's iptables (which dockerd
 * turns on for every bridge). `bridge`: a bridge with the VXLAN device and a veth pair per
 * container on it, as networks made before the macvlan layout have; kept for them and for hosts
 * that want a bridge to watch. The layout is per host: the wire format is the same either way.
 */
export const OVERLAY_DATAPATHS = ['macvlan', 'bridge'] as const;
export type OverlayDatapath = (typeof OVERLAY_DATAPATHS)[number];

/**
 * Where an overlay's containers leave it. `local` (the default): every host is the gateway of its own
 * containers, with the same gateway address on every host (Docker's IPAM reserves it once per
 * subnet; a VXLAN device in proxy mode answers ARP and neighbour solicitations itself, so a
 * container's request for the gateway never crosses the tunnel and only its own host answers).
 * Outbound NAT and published ports then work as on a tsnet bridge, and Docker attaches no
 * second interface. `docker_gwbridge`: Join gives no gateway and Docker attaches every container
 * to its docker_gwbridge as well, as with Docker's own overlay. Records made before the option
 * existed have docker_gwbridge.
 */
export const OVERLAY_GATEWAYS = ['local', 'docker_gwbridge'] as const;
export type OverlayGateway = (typeof OVERLAY_GATEWAYS)[number];

/**
 * What a network created without the option gets: a local gateway, since attaching every
 * container to docker_gwbridge as well doubled an overlay container's start cost (bench:overlay).
 */
export const DEFAULT_OVERLAY_GATEWAY: OverlayGateway = 'local';

export const VXLAN_OVERHEAD = 50;
export const MAX_VNI = 16_777_215;

/** The overlay driver's state for one network on this host, from planNetwork on (a pending record's VNI and port may be open). */
const overlayStateSchema = z.object({
  /** The overlay's identity across hosts: Docker gives each host its own network id. */
  name: z.string(),
  /** Unset ones are decided by the first host (VNI, port) or each host's underlay (MTU). */
  vni: z.number().int().optional(),
  port: z.number().int().optional(),
  mtu: z.number().int().optional(),
  /** Records written before the macvlan layout existed have none: they were made with a bridge. */
  datapath: z.enum(OVERLAY_DATAPATHS).default('bridge'),
  gateway: z.enum(OVERLAY_GATEWAYS).default('docker_gwbridge'),
  /** The gateway link of the macvlan layout with a local gateway (the bridge layout's gateway is its bridge). */
  gatewayLink: z.string().default(''),
  /** The bridge's name; used only by the bridge layout. */
  bridge: z.string(),
  vxlan: z.string(),
});
/** Once createNetwork has joined the overlay: the VNI and port every host agreed on. */
const joinedSchema = overlayStateSchema.extend({ vni: z.number().int(), port: z.number().int() });

export type OverlayState = Readonly<z.output<typeof overlayStateSchema>>;
export type OverlaySpec = Omit<OverlayState, 'bridge' | 'vxlan' | 'datapath' | 'gateway' | 'gatewayLink'>;
export type JoinedOverlayState = Readonly<z.output<typeof joinedSchema>>;

export const overlayState = stateCodec<OverlayState>('overlay', overlayStateSchema);
export const joinedOverlayState = stateCodec<JoinedOverlayState>('overlay', joinedSchema);

/**
 * Parses `-o` options of an overlay network. With a driver scope of "global" (swarm), Docker
 * gives every host the same network id, which then serves as the name when none is given.
 */
export function parseOverlayOptions(networkId: string, options: Readonly<Record<string, string>>, globalScope: boolean): OverlayState {
  rejectUnknownOptions(options, Object.values(OVERLAY_OPTIONS), 'overlay');
  const name = options[OVERLAY_OPTIONS.name] ?? (globalScope ? networkId : undefined);
  if (!name) {
    throw tsnetError('TSNET_OVERLAY_NAME', `an overlay network needs a name that is the same on every host`, `pass -o ${OVERLAY_OPTIONS.name}=NAME (the same NAME on each host)`);
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name)) {
    throw tsnetError('TSNET_OVERLAY_NAME', `overlay name "${truncate(name)}" is not valid`, 'use letters, digits, ".", "_" or "-", at most 63 characters');
  }
  const vni = options[OVERLAY_OPTIONS.vni];
  const port = options[OVERLAY_OPTIONS.port];
  const mtu = options[OVERLAY_OPTIONS.mtu];
  return {
    name,
    vni: vni === undefined ? undefined : parseIntOption(OVERLAY_OPTIONS.vni, vni, 1, MAX_VNI, 4242),
    port: port === undefined ? undefined : parseIntOption(OVERLAY_OPTIONS.port, port, 1, 65535, 4789),
    mtu: mtu === undefined ? undefined : parseIntOption(OVERLAY_OPTIONS.mtu, mtu, 68, 65535, 1400),
    datapath: parseChoice(options, OVERLAY_OPTIONS.datapath, OVERLAY_DATAPATHS, 'macvlan', 'an overlay data path'),
    gateway: parseChoice(options, OVERLAY_OPTIONS.gateway, OVERLAY_GATEWAYS, DEFAULT_OVERLAY_GATEWAY, 'an overlay gateway'),
    gatewayLink: linkName('g', networkId),
    bridge: linkName('b', networkId),
    vxlan: linkName('x', networkId),
  };
}
