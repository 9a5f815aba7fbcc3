import { z } from 'zod';
import { tsnetError } from '../../src/core/errors.js';
import { linkName, truncate } from '../../src/core/ids.js';
import { parseIntOption, rejectUnknownOptions } from '../../src/core/options.js';
import { stateCodec } from '../state.js';

export const OVERLAY_OPTIONS = {
  name: 'tsnet.overlay.name',
  vni: 'tsnet.vni',
  port: 'tsnet.vxlan.port',
  mtu: 'com.docker.network.driver.mtu',
} as const;

export const VXLAN_OVERHEAD = 50;
export const MAX_VNI = 16_777_215;

/** What the user asked for; unset fields are decided by the first host (VNI) or the underlay (MTU). */
export interface OverlaySpec {
  /** The overlay's identity across hosts: Docker gives each host its own network id. */
  readonly name: string;
  readonly vni?: number;
  readonly port?: number;
  readonly mtu?: number;
}

/** The overlay driver's state for one network on this host. */
export interface OverlayState extends OverlaySpec {
  readonly bridge: string;
  readonly vxlan: string;
}

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
    bridge: linkName('b', networkId),
    vxlan: linkName('x', networkId),
  };
}

/** The state of an overlay on this host that createNetwork has joined: its VNI and port are fixed. */
export interface JoinedOverlayState extends OverlayState {
  readonly vni: number;
  readonly port: number;
}

const plannedSchema = z.object({
  name: z.string(),
  vni: z.number().int().optional(),
  port: z.number().int().optional(),
  mtu: z.number().int().optional(),
  bridge: z.string(),
  vxlan: z.string(),
});

/** An overlay's state on this host, from planNetwork on: the VNI and port may still be open (a pending record). */
export const overlayState = stateCodec<OverlayState>('overlay', plannedSchema);

/** A created overlay's state, with the VNI and port every host agreed on. */
export const joinedOverlayState = stateCodec<JoinedOverlayState>('overlay', plannedSchema.extend({ vni: z.number().int(), port: z.number().int() }));
