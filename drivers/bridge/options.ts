import { checkFirewallInterfaceName, linkName } from '../../src/core/ids.js';
import type { HostOp } from '../../src/host/hostnet.js';
import { parseBoolOption, parseIntOption, rejectUnknownOptions } from '../../src/core/options.js';

/** The bridge driver's view of a network, persisted as its driver state. */
export interface BridgeConfig {
  readonly bridge: string;
  /** True when the user named the bridge (com.docker.network.bridge.name). */
  readonly userNamed: boolean;
  readonly mtu: number;
  readonly icc: boolean;
  readonly masquerade: boolean;
  /** Learned at creation: the bridge existed and was the user's (never deleted by tsnet). */
  readonly adopted?: boolean;
  /** For an adopted bridge: the ops that undo what tsnet changed on it. */
  readonly restoreOps?: readonly HostOp[];
}

/** Option keys, named as Docker's own bridge driver names them so users need learn nothing new. */
export const BRIDGE_OPTIONS = {
  name: 'com.docker.network.bridge.name',
  mtu: 'com.docker.network.driver.mtu',
  icc: 'com.docker.network.bridge.enable_icc',
  masquerade: 'com.docker.network.bridge.enable_ip_masquerade',
} as const;

export const DEFAULT_MTU = 1500;

/** Pure: turns `-o` options into a BridgeConfig or throws a TsnetError naming the option. */
export function parseBridgeOptions(networkId: string, options: Readonly<Record<string, string>>): BridgeConfig {
  rejectUnknownOptions(options, Object.values(BRIDGE_OPTIONS), 'bridge');
  const name = options[BRIDGE_OPTIONS.name];
  const mtu = options[BRIDGE_OPTIONS.mtu];
  const icc = options[BRIDGE_OPTIONS.icc];
  const masquerade = options[BRIDGE_OPTIONS.masquerade];
  return {
    bridge: name ? checkFirewallInterfaceName(name, `network option "${BRIDGE_OPTIONS.name}"`) : linkName('b', networkId),
    userNamed: Boolean(name),
    mtu: mtu ? parseIntOption(BRIDGE_OPTIONS.mtu, mtu, 68, 65535, 1450) : DEFAULT_MTU,
    icc: icc ? parseBoolOption(BRIDGE_OPTIONS.icc, icc) : true,
    masquerade: masquerade ? parseBoolOption(BRIDGE_OPTIONS.masquerade, masquerade) : true,
  };
}

/** Reads back a persisted BridgeConfig (written by this driver, so trusted). */
export function bridgeConfigOf(driverState: Readonly<Record<string, unknown>>): BridgeConfig {
  return driverState as unknown as BridgeConfig;
}
