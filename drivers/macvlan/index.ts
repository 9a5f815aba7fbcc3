import { z } from 'zod';
import type { Driver, DriverDeps } from '../driver.js';
import { parseChoice } from '../parent.js';
import { createSubInterfaceDriver } from '../sub-interface.js';

/** Docker's own option name, so a network moves from `-d macvlan` unchanged. */
export const MACVLAN_MODE_OPTION = 'macvlan_mode';
export const MACVLAN_MODES = ['bridge', 'private', 'vepa', 'passthru'] as const;

/**
 * macvlan networks (`-o tsnet.type=macvlan`): each container gets a macvlan link of `parent`
 * with its own MAC, so it sits directly on the parent's L2 segment; nothing goes through the
 * host's bridge or firewall. The parent's rules (VLAN sub-interface, private link) are in parent.ts.
 */
export function createMacvlanDriver(deps: DriverDeps): Driver {
  return createSubInterfaceDriver({
    type: 'macvlan',
    linkKind: 'm',
    options: [MACVLAN_MODE_OPTION],
    modeSchema: z.enum(MACVLAN_MODES),
    planMode: (options) => parseChoice(options, MACVLAN_MODE_OPTION, MACVLAN_MODES, 'bridge', 'a macvlan mode'),
    endpointOp: (name, parent, mode, endpoint) => ({ op: 'ensure-macvlan', name, parent, mode, mac: endpoint.mac }),
  }, deps);
}
