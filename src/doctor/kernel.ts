import { fail, pass, warn, type Check, type CheckResult, type DoctorNetwork } from './check.js';
import { KERNEL_FEATURES, type FeatureState, type KernelFeature } from './probe.js';

/** PARENT_OPTION of drivers/parent.ts (doctor may not import drivers): `-o parent=eth0.10`. */
const PARENT_OPTION = 'parent';
/** The bridge type's icc option (drivers/bridge/options.ts). */
const ICC_OPTION = 'com.docker.network.bridge.enable_icc';
/** The overlay's layout option (drivers/overlay/options.ts); absent means macvlan links on the VXLAN device. */
const DATAPATH_OPTION = 'tsnet.overlay.datapath';

interface FeatureNeed {
  /** The module `modprobe` loads. */
  readonly module: string;
  readonly config: string;
  /** What is affected, for the message. */
  readonly affects: string;
  /** Missing is a FAIL even when no network uses it yet: tsnet's default type needs it. */
  readonly always: boolean;
  /** The existing networks that cannot work without it. */
  readonly usedBy: (networks: readonly DoctorNetwork[]) => DoctorNetwork[];
}

const ofType = (...types: string[]) => (networks: readonly DoctorNetwork[]) => networks.filter((n) => types.includes(n.type));
const bridgedOverlay = (n: DoctorNetwork) => n.type === 'overlay' && n.options[DATAPATH_OPTION] === 'bridge';
const macvlanOverlay = (n: DoctorNetwork) => n.type === 'overlay' && n.options[DATAPATH_OPTION] !== 'bridge';

const NEEDS: Record<KernelFeature, FeatureNeed> = {
  bridge: {
    module: 'bridge', config: 'CONFIG_BRIDGE', affects: 'bridge networks, overlays with the bridge layout (and macvlan/ipvlan without a parent)', always: true,
    usedBy: (networks) => networks.filter((n) => ['bridge', 'macvlan', 'ipvlan'].includes(n.type) || bridgedOverlay(n)),
  },
  veth: {
    module: 'veth', config: 'CONFIG_VETH', affects: 'bridge networks and overlays with the bridge layout', always: true,
    usedBy: (networks) => networks.filter((n) => n.type === 'bridge' || bridgedOverlay(n)),
  },
  vxlan: { module: 'vxlan', config: 'CONFIG_VXLAN', affects: 'overlay networks (-o tsnet.type=overlay)', always: false, usedBy: ofType('overlay') },
  macvlan: {
    module: 'macvlan', config: 'CONFIG_MACVLAN', affects: 'macvlan networks (-o tsnet.type=macvlan) and overlay networks (a container\'s link is a macvlan of the VXLAN device)', always: false,
    usedBy: (networks) => networks.filter((n) => n.type === 'macvlan' || macvlanOverlay(n)),
  },
  ipvlan: { module: 'ipvlan', config: 'CONFIG_IPVLAN', affects: 'ipvlan networks (-o tsnet.type=ipvlan)', always: false, usedBy: ofType('ipvlan') },
  '8021q': {
    module: '8021q', config: 'CONFIG_VLAN_8021Q', affects: 'macvlan and ipvlan networks on a VLAN parent (-o parent=eth0.10)', always: false,
    usedBy: (networks) => ofType('macvlan', 'ipvlan')(networks).filter((n) => /\.\d+$/.test(n.options[PARENT_OPTION] ?? '')),
  },
  br_netfilter: {
    module: 'br_netfilter', config: 'CONFIG_BRIDGE_NETFILTER', always: false,
    affects: 'firewall rules on bridged traffic: enable_icc=false between containers of one network, and overlays with the bridge layout',
    usedBy: (networks) => networks.filter((n) => bridgedOverlay(n) || (n.type === 'bridge' && n.options[ICC_OPTION] === 'false')),
  },
  xfrm: { module: 'xfrm_user', config: 'CONFIG_XFRM_USER', affects: 'IPsec (no tsnet network type uses it yet)', always: false, usedBy: () => [] },
};

/**
 * One result per kernel feature tsnet's types use. Missing is a FAIL when tsnet's default type
 * needs it or an existing network of this plugin does, otherwise a WARN that names the type it
 * rules out, so a host without ipvlan is ready for bridge networks and says so.
 */
export const kernelChecks: Check = async ({ probe, facts }) => {
  const results: CheckResult[] = [];
  for (const feature of KERNEL_FEATURES) {
    results.push(judgeFeature(feature, await probe.kernelFeature(feature), facts.networks ?? []));
  }
  return results;
};

export function judgeFeature(feature: KernelFeature, state: FeatureState, networks: readonly DoctorNetwork[]): CheckResult {
  const id = `kernel.${feature}`;
  const need = NEEDS[feature];
  if (state.present === true) return pass(id, `${feature}: ${state.evidence}`);
  const users = need.usedBy(networks);
  const fix = `modprobe ${need.module}`;
  const cannot = state.loadable
    ? `the module exists but is not loaded`
    : `this kernel has no ${need.module} module to load (nor is it built in): ${fix} fails until the host runs a kernel with ${need.config}`;
  if (state.present === undefined) {
    return warn(id, `${feature}: could not tell whether the kernel has it (${state.evidence}); ${need.affects} need it`, fix);
  }
  const what = `${feature} is missing (${state.evidence}); ${cannot}`;
  if (users.length > 0) return fail(id, `${what}; networks that cannot work: ${users.map((n) => n.name).join(', ')}`, fix);
  if (need.always) return fail(id, `${what}; ${need.affects} cannot be created`, fix);
  return warn(id, `${what}; affects ${need.affects}, none of which exists on this host`, fix);
}
