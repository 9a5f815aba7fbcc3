import { z } from 'zod';
import type { Driver, DriverDeps } from '../driver.js';
import { parseChoice } from '../parent.js';
import { createSubInterfaceDriver } from '../sub-interface.js';

/** Docker's own option names, so a network moves from `-d ipvlan` unchanged. */
export const IPVLAN_OPTIONS = { mode: 'ipvlan_mode', flag: 'ipvlan_flag' } as const;
export const IPVLAN_MODES = ['l2', 'l3', 'l3s'] as const;
export const IPVLAN_FLAGS = ['bridge', 'private', 'vepa'] as const;

interface IpvlanMode {
  readonly mode: (typeof IPVLAN_MODES)[number];
  readonly flag: (typeof IPVLAN_FLAGS)[number];
}

/**
 * ipvlan networks (`-o tsnet.type=ipvlan`): containers share the parent's MAC and are told apart
 * by address. L2 behaves like macvlan (a gateway when given); L3 and L3S route through the
 * parent's host, so Join gives on-link default routes and no gateway, as Docker's ipvlan does.
 * Needs the kernel's ipvlan module: without it the first endpoint is refused saying so.
 */
export function createIpvlanDriver(deps: DriverDeps): Driver {
  return createSubInterfaceDriver<IpvlanMode>({
    type: 'ipvlan',
    linkKind: 'i',
    options: Object.values(IPVLAN_OPTIONS),
    modeSchema: z.object({ mode: z.enum(IPVLAN_MODES), flag: z.enum(IPVLAN_FLAGS) }),
    planMode: (options) => ({
      mode: parseChoice(options, IPVLAN_OPTIONS.mode, IPVLAN_MODES, 'l2', 'an ipvlan mode'),
      flag: parseChoice(options, IPVLAN_OPTIONS.flag, IPVLAN_FLAGS, 'bridge', 'an ipvlan flag'),
    }),
    endpointOp: (name, parent, { mode, flag }) => ({ op: 'ensure-ipvlan', name, parent, mode, ...(flag === 'bridge' ? {} : { flag }) }),
    routedJoin: ({ mode }) => mode !== 'l2',
  }, deps);
}
