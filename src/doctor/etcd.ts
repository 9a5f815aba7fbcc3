import { fail, pass, skip, warn, type Check, type CheckResult, type DoctorFacts } from './check.js';
import type { EtcdEndpointState, HostLeaseState } from './probe.js';

/** The Date header has whole seconds, so skew below this is within the measurement's error. */
const SKEW_WARN_MS = 2_000;
const NO_ETCD = 'no --etcd-endpoints (or TSNET_ETCD_ENDPOINTS): this daemon keeps local state only';

/**
 * etcd: reachable at every endpoint (a dead member is a WARN while another answers), tsnet's
 * credentials accepted for a read under its prefix, this host's clock close to etcd's
 * (leases are timed by etcd, but "last seen" times and TLS certificates are read with the host's),
 * and this host's liveness lease held (src/ipam/host-liveness.ts).
 */
export const etcdChecks: Check = async ({ probe, options, facts }) => {
  const etcd = options.etcd;
  if (!etcd) return ['etcd.reachable', 'etcd.auth', 'etcd.clock', 'etcd.lease'].map((id) => skip(id, NO_ETCD));
  const states: EtcdEndpointState[] = [];
  for (const endpoint of etcd.endpoints) states.push(await probe.etcdEndpoint(endpoint));
  const reach = judgeReach(states);
  if (reach.status === 'FAIL') return [reach, ...['etcd.auth', 'etcd.clock', 'etcd.lease'].map((id) => skip(id, 'etcd is not reachable'))];
  const read = await probe.etcdRead();
  const who = etcd.auth ? `user ${etcd.auth.username}` : 'no credentials';
  const auth = read.ok
    ? pass('etcd.auth', `read under prefix "${etcd.prefix}" with ${who}`)
    : fail('etcd.auth', `etcd refused a read under prefix "${etcd.prefix}" with ${who}: ${read.error}`, authFix(read.error, etcd.auth?.username, etcd.prefix));
  const lease = read.ok ? judgeLease(await probe.etcdHostLease(options.hostId), options.hostId, daemonAnswers(facts)) : skip('etcd.lease', 'etcd refused the read (see etcd.auth)');
  return [reach, auth, judgeSkew(states), lease];
};

/** The daemon answers Plugin.Activate on its socket (then it would hold its lease). */
function daemonAnswers(facts: DoctorFacts): boolean {
  return facts.socket.exists && facts.socket.activate?.ok === true;
}

/**
 * While the daemon runs it keeps `hosts/HOST-ID` under a lease of 10 s. Without it other hosts
 * take this host for gone: `tsnet ipam release-host` may hand its addresses out again and its
 * overlay VTEPs and endpoints are not re-published after etcd loses them.
 */
export function judgeLease(state: HostLeaseState, hostId: string, daemonUp: boolean): CheckResult {
  const id = 'etcd.lease';
  if (!state.ok) return fail(id, `cannot read this host's liveness key: ${state.error}`);
  const entry = state.entry;
  const gone = 'other hosts take this host for gone (tsnet ipam release-host there may hand its addresses out again)';
  if (!entry?.ttl) {
    const what = !entry ? `${state.key} does not exist` : entry.lease ? `the lease of ${state.key} (${entry.lease}) has expired` : `${state.key} is attached to no lease, so it never expires (not written by tsnet?)`;
    if (entry && !entry.lease) return fail(id, `${what}: this host would look alive after it is gone`, `etcdctl del ${state.key} && systemctl restart tsnet`);
    if (daemonUp) return fail(id, `the daemon answers but holds no lease: ${what}; ${gone}; it retries with a back-off (journalctl -u tsnet shows why it cannot register)`, 'systemctl restart tsnet');
    return warn(id, `no lease: ${what} and no daemon answers here; ${gone} until tsnet starts and registers`, 'systemctl start tsnet');
  }
  const holder = `${entry.pid !== undefined ? `pid ${entry.pid}` : 'a process'}${entry.since ? ` since ${entry.since}` : ''}`;
  const left = `${entry.ttl.ttlSeconds} s of ${entry.ttl.grantedSeconds} s left`;
  if (!daemonUp) {
    // A stopping daemon lets its lease run out instead of revoking it (src/ipam/host-liveness.ts).
    return warn(id, `${state.key} is held under lease ${entry.lease ?? '?'} by ${holder} (${left}), but no daemon answers here: either tsnet stopped here less than ${entry.ttl.grantedSeconds} s ago (a stopping daemon lets its lease run out, so that a restart withdraws nothing from other hosts) or another host may run with --host-id ${hostId}`,
      `if tsnet did not just stop here, give each host its own --host-id (tsnet daemon --host-id NAME)`);
  }
  return pass(id, `${state.key} held under lease ${entry.lease ?? '?'} by ${holder}, ${left}`);
}

function judgeReach(states: readonly EtcdEndpointState[]): CheckResult {
  const up = states.filter((s): s is Extract<EtcdEndpointState, { ok: true }> => s.ok);
  const down = states.filter((s): s is Extract<EtcdEndpointState, { ok: false }> => !s.ok);
  const downText = down.map((s) => `${s.endpoint}: ${s.error}`).join('; ');
  if (up.length === 0) return fail('etcd.reachable', `no etcd endpoint answers: ${downText}`);
  const upText = up.map((s) => `${s.endpoint} (etcd ${s.version}, ${Math.round(s.rttMs)} ms)`).join(', ');
  if (down.length > 0) return warn('etcd.reachable', `${upText} answer; ${downText}`);
  return pass('etcd.reachable', upText);
}

function judgeSkew(states: readonly EtcdEndpointState[]): CheckResult {
  const skews = states.flatMap((s) => (s.ok && s.skewMs !== undefined ? [{ endpoint: s.endpoint, skewMs: s.skewMs }] : []));
  if (skews.length === 0) return skip('etcd.clock', 'etcd sent no Date header to compare clocks with');
  const worst = skews.reduce((a, b) => (Math.abs(b.skewMs) > Math.abs(a.skewMs) ? b : a));
  const seconds = (Math.abs(worst.skewMs) / 1000).toFixed(1);
  if (Math.abs(worst.skewMs) > SKEW_WARN_MS) {
    return warn('etcd.clock', `this host's clock is ${seconds} s ${worst.skewMs > 0 ? 'behind' : 'ahead of'} ${worst.endpoint}: times other hosts read (last seen, created) are off, and TLS certificates may look not yet valid or expired`, 'timedatectl set-ntp true');
  }
  return pass('etcd.clock', `clock within ${SKEW_WARN_MS / 1000} s of etcd (${seconds} s apart, Date header resolution is 1 s)`);
}

function authFix(error: string, user: string | undefined, prefix: string): string | undefined {
  // etcd with auth enabled answers an anonymous call "user name is empty".
  if (!user && /user name is empty|authentication/i.test(error)) return 'pass --etcd-user NAME --etcd-password-file FILE to the daemon (and to tsnet doctor)';
  if (user && /permission denied/i.test(error)) return `etcdctl role grant-permission --prefix=true ROLE readwrite ${prefix} && etcdctl user grant-role ${user} ROLE`;
  return undefined;
}
