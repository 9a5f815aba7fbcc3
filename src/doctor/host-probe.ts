import { access, readdir, readFile } from 'node:fs/promises';
import { lookup } from 'node:dns/promises';
import { release } from 'node:os';
import { errorText } from '../core/errors.js';
import { Iproute2HostNet } from '../host/iproute2.js';
import { CommandError, type RunResult, type Runner } from '../host/runner.js';
import type { FeatureState, IptablesState, KernelFeature, LinkState, RouteState } from './probe.js';

/** Module names as /proc/modules and modprobe know them. */
const MODULE: Record<KernelFeature, string> = {
  bridge: 'bridge', veth: 'veth', vxlan: 'vxlan', macvlan: 'macvlan', ipvlan: 'ipvlan', '8021q': '8021q', br_netfilter: 'br_netfilter', xfrm: 'xfrm_user',
};

/**
 * `ip link add` arguments that make one link of each kind. Run in a network namespace of its own
 * (`unshare --net`), which vanishes with the process, so the host never sees the test link. It
 * is the one source that is right on every kernel: a built-in driver without parameters has no
 * /sys/module entry, and a kernel without modules has neither /proc/modules nor modules.builtin.
 */
const TEST_LINK: Partial<Record<KernelFeature, readonly string[]>> = {
  bridge: ['type', 'bridge'],
  veth: ['type', 'veth', 'peer', 'name', 'tsnprobe1'],
  vxlan: ['type', 'vxlan', 'id', '1', 'dstport', '4789'],
  macvlan: ['link', 'lo', 'type', 'macvlan'],
  ipvlan: ['link', 'lo', 'type', 'ipvlan'],
  '8021q': ['link', 'lo', 'type', 'vlan', 'id', '10'],
};

const ANY_EXIT = Array.from({ length: 255 }, (_, i) => i + 1);
const VERDICTS = new Set(['ACCEPT', 'DROP', 'REJECT', 'RETURN', 'LOG', 'MARK', 'CONNMARK', 'MASQUERADE', 'SNAT', 'DNAT', 'NFQUEUE', 'TRACE']);

/**
 * The kernel and firewall half of the real probe. Reads /proc and /sys directly; everything else
 * runs through the Runner (argument arrays, never a shell). Network-namespace-specific answers
 * (sysctls, links, routes, iptables) are those of the namespace doctor runs in.
 */
export class KernelProbe {
  private iptablesState?: Promise<IptablesState>;
  private readonly ip: Iproute2HostNet;

  constructor(private readonly runner: Runner) {
    this.ip = new Iproute2HostNet({ runner });
  }

  async kernelFeature(feature: KernelFeature): Promise<FeatureState> {
    const module = MODULE[feature];
    const loaded = await readText('/proc/modules');
    if (loaded !== undefined && new RegExp(`^${module} `, 'm').test(loaded)) return { present: true, evidence: 'module loaded', loadable: true };
    if (await exists(`/sys/module/${module}`)) return { present: true, evidence: `built in or loaded (/sys/module/${module})`, loadable: true };
    const builtin = await readText(`/lib/modules/${release()}/modules.builtin`);
    if (builtin?.split('\n').some((l) => l.endsWith(`/${module}.ko`))) return { present: true, evidence: 'built in (modules.builtin)', loadable: false };
    const direct = await this.directTest(feature);
    const loadable = (await this.run(['modprobe', '-n', '-q', module])).code === 0;
    return { ...direct, loadable };
  }

  /** A source that asks the running kernel itself. */
  private async directTest(feature: KernelFeature): Promise<{ present: boolean | undefined; evidence: string }> {
    const args = TEST_LINK[feature];
    if (args) {
      const parent = args[0] === 'link' ? args.slice(0, 2) : [];
      const rest = args[0] === 'link' ? args.slice(2) : args;
      const result = await this.run(['unshare', '--net', 'ip', 'link', 'add', ...parent, 'name', 'tsnprobe0', ...rest]);
      const said = result.stderr.trim();
      if (result.code === 0) return { present: true, evidence: 'the kernel made a test link in a throwaway namespace' };
      if (/Unknown device type/i.test(said)) return { present: false, evidence: `the kernel refused a test link: ${said}` };
      if (/^unshare:|could not run/.test(said)) return { present: undefined, evidence: `no test link could be tried: ${said}` };
      return { present: true, evidence: `the kernel knows the link type (a test link on lo answered: ${said})` };
    }
    if (feature === 'br_netfilter') {
      return (await exists('/proc/sys/net/bridge/bridge-nf-call-iptables'))
        ? { present: true, evidence: 'built in or loaded (/proc/sys/net/bridge exists)' }
        : { present: false, evidence: '/proc/sys/net/bridge does not exist' };
    }
    const xfrm = await this.run(['ip', 'xfrm', 'state', 'count']);
    return xfrm.code === 0 ? { present: true, evidence: 'the kernel answered ip xfrm state count' } : { present: false, evidence: `ip xfrm state count: ${xfrm.stderr.trim()}` };
  }

  sysctl(key: string): Promise<string | undefined> {
    return readText(`/proc/sys/${key}`);
  }

  /** Read once per run: three checks look at it. */
  iptables(): Promise<IptablesState> {
    this.iptablesState ??= this.readIptables();
    return this.iptablesState;
  }

  private async readIptables(): Promise<IptablesState> {
    const version = await this.run(['iptables', '-V']);
    if (version.code !== 0) return { dockerChains: {}, error: version.stderr.trim() };
    const line = version.stdout.trim();
    const backend = /nf_tables/.test(line) ? 'nf_tables' as const : /legacy/.test(line) ? 'legacy' as const : undefined;
    const forward = await this.run(['iptables', '-w', '5', '-S', 'FORWARD']);
    const user = await this.run(['iptables', '-w', '5', '-S', 'DOCKER-USER']);
    const dockerIn = async (program: string) => {
      const saved = await this.run([program, '-t', 'filter']);
      return saved.code === 0 ? /^:DOCKER/m.test(saved.stdout) : undefined;
    };
    const nft = await this.run(['nft', 'list', 'tables']);
    return {
      version: line,
      backend,
      forward: forward.code === 0 ? parseForward(forward.stdout) : undefined,
      dockerUser: user.code === 0 ? user.stdout.split('\n').filter((l) => l.startsWith('-A DOCKER-USER')) : undefined,
      dockerChains: { legacy: await dockerIn('iptables-legacy-save'), nft: await dockerIn('iptables-nft-save') },
      dockerNftables: nft.code === 0 ? /\bdocker-bridges\b/.test(nft.stdout) : undefined,
      error: forward.code === 0 ? undefined : forward.stderr.trim(),
    };
  }

  async firewallManagers(): Promise<{ firewalld: boolean; ufw: boolean }> {
    const ufw = /^ENABLED=yes/m.test((await readText('/etc/ufw/ufw.conf')) ?? '');
    const pids = (await readdir('/proc').catch(() => [] as string[])).filter((p) => /^\d+$/.test(p));
    let firewalld = false;
    for (const pid of pids) {
      if ((await readText(`/proc/${pid}/comm`))?.trim() === 'firewalld') { firewalld = true; break; }
    }
    return { firewalld, ufw };
  }

  async links(): Promise<LinkState[]> {
    const { stdout } = await this.runner.run(['ip', '-json', '-details', 'link', 'show']);
    return (JSON.parse(stdout || '[]') as Array<{ ifname: string; mtu: number; linkinfo?: { info_kind?: string } }>)
      .map((l) => ({ name: l.ifname, mtu: l.mtu, kind: l.linkinfo?.info_kind }));
  }

  async routes(): Promise<RouteState[]> {
    const routes: RouteState[] = [];
    for (const family of ['-4', '-6']) {
      const { stdout } = await this.runner.run(['ip', family, '-json', 'route', 'show', 'table', 'main']);
      routes.push(...(JSON.parse(stdout || '[]') as Array<{ dst: string; dev?: string; type?: string }>).map((r) => ({ dst: r.dst, dev: r.dev, type: r.type })));
    }
    return routes;
  }

  addressOwner(address: string): Promise<{ dev: string; mtu: number } | undefined> {
    return this.ip.ownerOf(address);
  }

  async routeTowards(host: string): Promise<{ dev: string; mtu: number } | { error: string }> {
    try {
      const { address } = await lookup(host);
      const route = await this.ip.routeTo(address);
      return { dev: route.dev, mtu: route.mtu };
    } catch (err) {
      return { error: errorText(err) };
    }
  }

  /** Runs a program and returns whatever it said, failing or not (a missing program is code 127). */
  private async run(argv: readonly string[]): Promise<RunResult> {
    try {
      return await this.runner.run(argv, { okCodes: ANY_EXIT, timeoutMs: 5_000 });
    } catch (err) {
      if (err instanceof CommandError) return err.result; // killed by the timeout
      return { code: 127, stdout: '', stderr: `could not run ${argv[0] ?? ''}: ${errorText(err)}` };
    }
  }
}

/** `iptables -S FORWARD`: its policy and the chains it jumps to, in order. */
export function parseForward(text: string): { policy: string; jumps: string[] } {
  const policy = /^-P FORWARD (\S+)/m.exec(text)?.[1] ?? 'unknown';
  const jumps = [...text.matchAll(/^-A FORWARD .*?-j (\S+)/gm)].map((m) => m[1] as string).filter((j) => !VERDICTS.has(j));
  return { policy, jumps: [...new Set(jumps)] };
}

async function readText(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch(() => undefined);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}
