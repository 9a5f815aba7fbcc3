import { fail, pass, skip, warn, type Check, type CheckResult } from './check.js';
import type { EtcdEndpointState } from './probe.js';

/** The Date header has whole seconds, so skew below this is within the measurement's error. */
const SKEW_WARN_MS = 2_000;
const NO_ETCD = 'no --etcd-endpoints (or TSNET_ETCD_ENDPOINTS): this daemon keeps local state only';

/**
 * etcd: reachable at every endpoint (a dead member is a WARN while another answers), tsnet's
 * credentials accepted for a read under its prefix, and this host's clock close to etcd's
 * (leases are timed by etcd, but "last seen" times and TLS certificates are read with the host's).
 */
export const etcdChecks: Check = async ({ probe, options }) => {
  const etcd = options.etcd;
  if (!etcd) return ['etcd.reachable', 'etcd.auth', 'etcd.clock'].map((id) => skip(id, NO_ETCD));
  const states: EtcdEndpointState[] = [];
  for (const endpoint of etcd.endpoints) states.push(await probe.etcdEndpoint(endpoint));
  const reach = judgeReach(states);
  if (reach.status === 'FAIL') return [reach, skip('etcd.auth', 'etcd is not reachable'), skip('etcd.clock', 'etcd is not reachable')];
  const read = await probe.etcdRead();
  const who = etcd.auth ? `user ${etcd.auth.username}` : 'no credentials';
  const auth = read.ok
    ? pass('etcd.auth', `read under prefix "${etcd.prefix}" with ${who}`)
    : fail('etcd.auth', `etcd refused a read under prefix "${etcd.prefix}" with ${who}: ${read.error}`, authFix(read.error, etcd.auth?.username, etcd.prefix));
  return [reach, auth, judgeSkew(states)];
};

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
