import { fail, pass, skip, warn, type Check, type CheckResult, type DoctorFacts } from './check.js';
import type { IptablesState } from './probe.js';

/** Routing between containers and the world needs forwarding on; Docker sets it, and so does tsnet when it makes a bridge. */
export const ipForwardCheck: Check = async ({ probe }) => {
  const id = 'sysctl.ip_forward';
  const value = await probe.sysctl('net/ipv4/ip_forward');
  if (value === undefined) return fail(id, 'net.ipv4.ip_forward cannot be read (no IPv4 in this kernel or network namespace?)');
  if (value.trim() === '1') return pass(id, 'net.ipv4.ip_forward = 1');
  return fail(id, `net.ipv4.ip_forward = ${value.trim()}: containers on tsnet networks cannot reach anything beyond this host, and published ports do not answer from outside`, 'sysctl -w net.ipv4.ip_forward=1');
};

/**
 * IPv6 routing between containers and the world needs net.ipv6.conf.all.forwarding on. A FAIL
 * when a tsnet network has an IPv6 subnet; otherwise a WARN, not a FAIL: turning it on also
 * makes the host stop taking its own address from router advertisements on interfaces with
 * accept_ra=1 (the kernel's ip-sysctl.rst), which an operator without IPv6 networks may not want.
 */
export const ipv6ForwardCheck: Check = async ({ probe, facts }) => {
  const id = 'sysctl.ipv6_forward';
  const v6 = networksWithIpv6(facts.networks);
  const used = v6.length > 0 ? `IPv6 network(s) ${v6.join(', ')}` : undefined;
  const value = await probe.sysctl('net/ipv6/conf/all/forwarding');
  if (value === undefined) {
    const reason = 'net.ipv6.conf.all.forwarding cannot be read (IPv6 disabled: ipv6.disable=1 on the kernel command line?)';
    return used ? fail(id, `${reason}, and tsnet has ${used}`) : skip(id, `${reason}; no tsnet network has IPv6`);
  }
  if (value.trim() === '1') return pass(id, 'net.ipv6.conf.all.forwarding = 1');
  const fix = 'sysctl -w net.ipv6.conf.all.forwarding=1';
  const found = `net.ipv6.conf.all.forwarding = ${value.trim()}`;
  if (used) return fail(id, `${found}: containers on ${used} cannot reach anything beyond this host over IPv6`, fix);
  const known = facts.networks ? 'no tsnet network has IPv6 now' : 'Docker could not be asked which networks have IPv6';
  return warn(id, `${found}: ${known}, but one made with --ipv6 would not route beyond this host (turning it on stops SLAAC from router advertisements on interfaces with accept_ra=1)`, fix);
};

function networksWithIpv6(networks: DoctorFacts['networks']): string[] {
  return (networks ?? []).filter((n) => n.subnets.some((s) => s.includes(':'))).map((n) => n.name);
}

/**
 * The FORWARD chain. dockerd sets its policy to DROP; tsnet's traffic gets through because the
 * daemon puts `-j TSNET-FORWARD` first in it at start-up. A DROP policy without that hook means
 * tsnet networks cannot route: a FAIL while the daemon answers (its hook was flushed, e.g. by a
 * firewall reload), a WARN while it is down (it adds the hook when it starts).
 */
export const forwardCheck: Check = async ({ probe, facts }) => {
  const id = 'firewall.forward';
  const state = await probe.iptables();
  if (!state.forward) {
    // Installed but refusing (not root, xtables lock held) needs no package.
    return state.version ? fail(id, `cannot read the FORWARD chain: ${state.error ?? 'iptables -S FORWARD failed'}`) : fail(id, `cannot read the FORWARD chain: ${state.error ?? 'iptables is not installed'}`, 'apt-get install iptables');
  }
  const { policy, jumps } = state.forward;
  const hooked = jumps.includes('TSNET-FORWARD');
  const order = jumps.length > 0 ? `; jumps in order: ${jumps.join(', ')}` : '';
  if (policy !== 'DROP' || hooked) return pass(id, `FORWARD policy ${policy}${hooked ? ', TSNET-FORWARD hooked' : ''}${order}`);
  const daemonUp = facts.socket.exists && facts.socket.activate?.ok === true;
  if (daemonUp) {
    return fail(id, 'FORWARD policy DROP and the running daemon\'s TSNET-FORWARD hook is missing (flushed by a firewall reload?): tsnet networks cannot route', 'systemctl restart tsnet');
  }
  return warn(id, 'FORWARD policy DROP and no TSNET-FORWARD hook: the daemon adds it when it starts; until then tsnet networks cannot route');
};

/** DOCKER-USER runs before tsnet's chain (dockerd keeps its jump first), so its DROPs filter tsnet traffic too. */
export const dockerUserCheck: Check = async ({ probe }) => {
  const id = 'firewall.docker-user';
  const state = await probe.iptables();
  if (!state.forward) return skip(id, 'the FORWARD chain cannot be read (see firewall.forward)');
  if (!state.dockerUser) return pass(id, 'no DOCKER-USER chain (dockerd is not running, runs with --iptables=false or its nftables backend): nothing of Docker\'s filters before TSNET-FORWARD');
  const blocking = state.dockerUser.filter((r) => /-j (DROP|REJECT)\b/.test(r));
  if (blocking.length === 0) return pass(id, `DOCKER-USER exists with ${state.dockerUser.length} rule(s), none of which drops`);
  return warn(id, `DOCKER-USER runs before TSNET-FORWARD and drops: ${blocking.join(' | ')}; these rules filter tsnet networks' traffic too`, 'iptables -S DOCKER-USER');
};

/**
 * tsnet runs `iptables`, so its rules land in whatever backend that command is. Docker's chains
 * in the other backend (or in both, left by a dockerd that ran with the other one) mean two rule
 * sets both filter every packet and neither sees the other.
 */
export const backendCheck: Check = async ({ probe }) => judgeBackend(await probe.iptables());

export function judgeBackend(state: IptablesState): CheckResult {
  const id = 'firewall.backend';
  if (!state.version || !state.backend) return fail(id, `cannot tell the iptables backend: ${state.error ?? 'iptables is not installed'}`, 'apt-get install iptables');
  const host = state.backend;
  const other = host === 'nf_tables' ? 'legacy' : 'nf_tables';
  const { legacy, nft } = state.dockerChains;
  const switchTo = (backend: 'legacy' | 'nft') => `update-alternatives --set iptables /usr/sbin/iptables-${backend} && update-alternatives --set ip6tables /usr/sbin/ip6tables-${backend} && systemctl restart docker tsnet`;
  if (legacy && nft) {
    const stale = host === 'nf_tables' ? 'iptables-legacy' : 'iptables-nft';
    return fail(id, `Docker's chains exist in both the legacy and the nf_tables backend (a dockerd ran with each): both rule sets filter every packet; iptables here is ${host}`,
      `${stale} -t filter -F && ${stale} -t filter -X && ${stale} -t nat -F && ${stale} -t nat -X && systemctl restart docker tsnet`);
  }
  const dockerIn = legacy ? 'legacy' : nft ? 'nf_tables' : undefined;
  if (dockerIn && dockerIn !== host) {
    return fail(id, `iptables is ${host} but Docker's chains are in the ${other} backend: tsnet's rules and Docker's never see each other`, switchTo(dockerIn === 'legacy' ? 'legacy' : 'nft'));
  }
  if (!dockerIn && state.dockerNftables) {
    return warn(id, `Docker uses its nftables firewall backend (Docker 29+) and tsnet writes iptables (${host}) rules: both apply, Docker's DROP verdicts also reach tsnet traffic on the same hooks`);
  }
  if (!dockerIn) return pass(id, `iptables is ${host}; Docker has no iptables chains (yet)`);
  return pass(id, `iptables is ${host}, the same backend Docker uses`);
}

/** firewalld and ufw rewrite iptables on reload and drop forwarded traffic by default. */
export const managerCheck: Check = async ({ probe }) => {
  const id = 'firewall.manager';
  const { firewalld, ufw } = await probe.firewallManagers();
  if (!firewalld && !ufw) return pass(id, 'neither firewalld nor ufw is active');
  const found: string[] = [];
  if (firewalld) found.push('firewalld is running: a reload (firewall-cmd --reload) removes the rules tsnet installed, which it restores only when it restarts; and its zones drop forwarded traffic from interfaces they do not know (tsnb-*)');
  if (ufw) found.push('ufw is enabled: its default forward policy (DEFAULT_FORWARD_POLICY in /etc/default/ufw) drops routed traffic, and ufw reload reorders FORWARD');
  return warn(id, found.join('; '), 'systemctl restart tsnet');
};
