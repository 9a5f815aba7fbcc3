import { z } from 'zod';
import { tsnetError } from '../../src/core/errors.js';
import { checkFirewallInterfaceName, checkInterfaceName, linkName, truncate } from '../../src/core/ids.js';
import type { GatewayNeeds, GatewayRequest } from '../driver.js';
import { GATEWAY_MODES, type GatewayMode } from '../gateway.js';
import { parseIp } from '../../src/core/net.js';
import { parseBoolOption, parseIntOption, rejectUnknownOptions } from '../../src/core/options.js';
import { stateCodec } from '../state.js';

export { GATEWAY_MODES, type GatewayMode } from '../gateway.js';

const gatewayModeSchema = z.enum(GATEWAY_MODES);

/** The changes tsnet undoes on an adopted bridge (adoption.ts makes only these). */
const restoreOpSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('remove-addr'), dev: z.string(), cidr: z.string() }),
  z.object({ op: z.literal('ensure-sysctl'), key: z.string(), value: z.string() }),
  z.object({ op: z.literal('ensure-mtu'), dev: z.string(), mtu: z.number().int() }),
  z.object({ op: z.literal('ensure-down'), dev: z.string() }),
]);

/**
 * The bridge driver's view of a network, persisted as its driver state. Records of older
 * versions lack the later fields, which get Docker's defaults when read back.
 */
const bridgeConfigSchema = z.object({
  bridge: z.string(),
  /** True when the user named the bridge (com.docker.network.bridge.name). */
  userNamed: z.boolean(),
  mtu: z.number().int(),
  icc: z.boolean(),
  masquerade: z.boolean(),
  /** Host IP for a published port given without one (`-p 8080:80`). */
  hostBindingIp: z.string().optional(),
  /** Join's DstPrefix: the container's interface is this plus a number. */
  ifacePrefix: z.string().default('eth'),
  gatewayMode: z.object({ 4: gatewayModeSchema, 6: gatewayModeSchema }).default({ 4: 'nat', 6: 'nat' }),
  /** Host interfaces from which containers are reachable directly, even on ports published to loopback. */
  trustedInterfaces: z.array(z.string()).default([]),
  /** The IPv4 gateway address is not put on the bridge (the user manages it). */
  inhibitIpv4: z.boolean().default(false),
  /** Learned at creation: the bridge existed and was the user's (never deleted by tsnet). */
  adopted: z.boolean().optional(),
  /** For an adopted bridge: the ops that undo what tsnet changed on it. */
  restoreOps: z.array(restoreOpSchema).optional(),
  /** Learned at creation: an adopted bridge's MAC, kept (a bridge's MAC otherwise follows its ports). */
  pinnedMac: z.string().optional(),
});

export type BridgeConfig = Readonly<z.output<typeof bridgeConfigSchema>>;

export const bridgeState = stateCodec<BridgeConfig>('bridge', bridgeConfigSchema);

/** Option keys, named as Docker's own bridge driver names them so users need learn nothing new. */
export const BRIDGE_OPTIONS = {
  name: 'com.docker.network.bridge.name',
  mtu: 'com.docker.network.driver.mtu',
  icc: 'com.docker.network.bridge.enable_icc',
  masquerade: 'com.docker.network.bridge.enable_ip_masquerade',
  hostBindingIp: 'com.docker.network.bridge.host_binding_ipv4',
  ifacePrefix: 'com.docker.network.container_iface_prefix',
  gatewayMode4: 'com.docker.network.bridge.gateway_mode_ipv4',
  gatewayMode6: 'com.docker.network.bridge.gateway_mode_ipv6',
  trustedInterfaces: 'com.docker.network.bridge.trusted_host_interfaces',
  inhibitIpv4: 'com.docker.network.bridge.inhibit_ipv4',
  enableIpv4: 'com.docker.network.enable_ipv4',
  enableIpv6: 'com.docker.network.enable_ipv6',
} as const;

export const DEFAULT_MTU = 1500;

/** What the options are checked against: the network's address families as Docker sent them. */
export interface BridgeNetworkShape {
  readonly internal: boolean;
  readonly hasIpv4: boolean;
  readonly hasIpv6: boolean;
}

/** Pure: turns `-o` options into a BridgeConfig or throws a TsnetError naming the option. */
export function parseBridgeOptions(networkId: string, options: Readonly<Record<string, string>>, shape: BridgeNetworkShape): BridgeConfig {
  rejectUnknownOptions(options, Object.values(BRIDGE_OPTIONS), 'bridge');
  const o = (key: keyof typeof BRIDGE_OPTIONS): string | undefined => options[BRIDGE_OPTIONS[key]];
  const name = o('name');
  const config: BridgeConfig = {
    bridge: name ? checkFirewallInterfaceName(name, `network option "${BRIDGE_OPTIONS.name}"`) : linkName('b', networkId),
    userNamed: Boolean(name),
    mtu: o('mtu') ? parseIntOption(BRIDGE_OPTIONS.mtu, o('mtu') as string, 68, 65535, 1450) : DEFAULT_MTU,
    icc: o('icc') ? parseBoolOption(BRIDGE_OPTIONS.icc, o('icc') as string) : true,
    masquerade: o('masquerade') ? parseBoolOption(BRIDGE_OPTIONS.masquerade, o('masquerade') as string) : true,
    ...(o('hostBindingIp') ? { hostBindingIp: parseHostBindingIp(o('hostBindingIp') as string) } : {}),
    ifacePrefix: o('ifacePrefix') ? parseIfacePrefix(o('ifacePrefix') as string) : 'eth',
    gatewayMode: { 4: parseGatewayMode(BRIDGE_OPTIONS.gatewayMode4, o('gatewayMode4'), shape), 6: parseGatewayMode(BRIDGE_OPTIONS.gatewayMode6, o('gatewayMode6'), shape) },
    trustedInterfaces: o('trustedInterfaces') ? parseTrustedInterfaces(o('trustedInterfaces') as string) : [],
    inhibitIpv4: o('inhibitIpv4') ? parseBoolOption(BRIDGE_OPTIONS.inhibitIpv4, o('inhibitIpv4') as string) : false,
  };
  checkFamilySwitch(BRIDGE_OPTIONS.enableIpv4, o('enableIpv4'), shape.hasIpv4, 'IPv4');
  checkFamilySwitch(BRIDGE_OPTIONS.enableIpv6, o('enableIpv6'), shape.hasIpv6, 'IPv6');
  return config;
}

function parseHostBindingIp(value: string): string {
  // Docker's option is named for IPv4 but takes an IPv6 address too (its documentation says so).
  try {
    return parseIp(value, `network option "${BRIDGE_OPTIONS.hostBindingIp}"`).address;
  } catch {
    throw tsnetError('TSNET_OPT_INVALID', `network option "${BRIDGE_OPTIONS.hostBindingIp}": "${truncate(value)}" is not an IP address`, `pass a host address, e.g. -o ${BRIDGE_OPTIONS.hostBindingIp}=127.0.0.1`);
  }
}

function parseIfacePrefix(value: string): string {
  // Docker appends the interface's number: keep room for it within Linux's 15 bytes.
  checkInterfaceName(value, `network option "${BRIDGE_OPTIONS.ifacePrefix}"`);
  if (Buffer.byteLength(value) > 12 || !/^[A-Za-z][A-Za-z0-9_-]*$/.test(value)) {
    throw tsnetError('TSNET_OPT_INVALID', `network option "${BRIDGE_OPTIONS.ifacePrefix}": "${truncate(value)}" is not a usable interface name prefix`, `use 1 to 12 letters, digits, "_" or "-", starting with a letter, e.g. -o ${BRIDGE_OPTIONS.ifacePrefix}=app`);
  }
  return value;
}

function parseGatewayMode(key: string, value: string | undefined, shape: BridgeNetworkShape): GatewayMode {
  if (value === undefined || value === '') return 'nat';
  if (!(GATEWAY_MODES as readonly string[]).includes(value)) {
    throw tsnetError('TSNET_OPT_INVALID', `network option "${key}": "${truncate(value)}" is not a gateway mode`, `use one of ${GATEWAY_MODES.join(', ')}, e.g. -o ${key}=routed`);
  }
  if (value === 'isolated' && !shape.internal) {
    throw tsnetError('TSNET_OPT_INVALID', `network option "${key}": "isolated" needs an internal network`, 'add --internal to docker network create, or use another gateway mode');
  }
  return value as GatewayMode;
}

function parseTrustedInterfaces(value: string): string[] {
  return value.split(':').map((name) => checkFirewallInterfaceName(name, `network option "${BRIDGE_OPTIONS.trustedInterfaces}" (names are separated by ":")`));
}

/** `-o com.docker.network.enable_ipv6=…`: Docker already turned it into the pools it sent; it must agree with them. */
function checkFamilySwitch(key: string, value: string | undefined, present: boolean, family: string): void {
  if (value === undefined) return;
  const enabled = parseBoolOption(key, value);
  if (enabled !== present) {
    throw tsnetError('TSNET_OPT_INVALID', `network option "${key}=${value}" contradicts the network: Docker sent ${present ? 'an' : 'no'} ${family} subnet`, enabled ? `pass --${family === 'IPv4' ? 'ipv4' : 'ipv6'} (and a --subnet of that family) to docker network create instead` : `leave the option out, or pass --${family === 'IPv4' ? 'ipv4' : 'ipv6'}=false instead`);
  }
}

/**
 * Docker's rule for its own bridge (moby's bridge driver, GetSkipGwAlloc): an isolated family has
 * no gateway, nor has IPv4 on an --internal network with inhibit_ipv4 (no address on the bridge
 * and no route out). A value CreateNetwork will refuse keeps the gateway here.
 */
export function bridgeGatewayNeeds({ options, internal }: GatewayRequest): GatewayNeeds {
  const inhibit = options[BRIDGE_OPTIONS.inhibitIpv4];
  let inhibited = false;
  try {
    inhibited = inhibit !== undefined && parseBoolOption(BRIDGE_OPTIONS.inhibitIpv4, inhibit);
  } catch {
    // refused by CreateNetwork, with the reason
  }
  return {
    ipv4: !(options[BRIDGE_OPTIONS.gatewayMode4] === 'isolated' || (inhibited && internal)),
    ipv6: options[BRIDGE_OPTIONS.gatewayMode6] !== 'isolated',
  };
}
