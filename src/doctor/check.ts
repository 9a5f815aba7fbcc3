import type { EtcdKvStoreOptions } from '../../kvstore/etcd/etcd-kv-store.js';
import type { NetworkType } from '../core/model.js';
import type { DoctorProbe, DockerState, SocketState } from './probe.js';

/**
 * `tsnet doctor`'s vocabulary. A check looks at one thing on the host and answers PASS, FAIL
 * (tsnet cannot work as configured: the exit status is 1), WARN (it works, with a caveat the
 * operator should know) or SKIP (the check does not apply, and says why). Results are not
 * errors: a host that is not ready is what doctor exists to describe, so nothing here throws
 * on purpose.
 */
export type CheckStatus = 'PASS' | 'FAIL' | 'WARN' | 'SKIP';

export interface CheckResult {
  /** Stable, greppable name, e.g. `sysctl.ip_forward`. */
  readonly id: string;
  readonly status: CheckStatus;
  /** What was found; for FAIL and WARN, what is wrong and what it affects. */
  readonly message: string;
  /** The exact command that fixes a FAIL or WARN, when there is one. */
  readonly fix?: string;
}

export const pass = (id: string, message: string): CheckResult => ({ id, status: 'PASS', message });
export const skip = (id: string, message: string): CheckResult => ({ id, status: 'SKIP', message });
export const fail = (id: string, message: string, fix?: string): CheckResult => (fix ? { id, status: 'FAIL', message, fix } : { id, status: 'FAIL', message });
export const warn = (id: string, message: string, fix?: string): CheckResult => (fix ? { id, status: 'WARN', message, fix } : { id, status: 'WARN', message });

/** What doctor is told about the daemon it diagnoses: the daemon's own flags and defaults. */
export interface DoctorOptions {
  readonly socketPath: string;
  readonly stateDir: string;
  /** `unix:///…`, or `none` when the daemon runs without asking Docker. */
  readonly dockerHost: string;
  readonly etcd?: Omit<EtcdKvStoreOptions, 'log'>;
  readonly hostId: string;
  readonly vxlanPort: number;
  readonly vxlanLocalIp?: string;
  /** Addresses the operator names for the VXLAN port probe, besides the VTEPs etcd lists. */
  readonly vxlanPeers: readonly string[];
  /** The daemon's --dns-listen: its resolver of names across hosts, or `none`. */
  readonly dnsListen: string;
  /** dockerd's configuration file (default /etc/docker/daemon.json). */
  readonly dockerConfigFile?: string;
}

/** A network of this plugin, as Docker's API lists it (doctor never opens the daemon's store). */
export interface DoctorNetwork {
  readonly name: string;
  readonly type: NetworkType | string;
  readonly options: Readonly<Record<string, string>>;
  readonly subnets: readonly string[];
}

/** Facts several checks share, gathered once before the checks run. */
export interface DoctorFacts {
  readonly docker: DockerState | { readonly reachable: false; readonly skipped: string };
  /** This plugin's networks; undefined when Docker could not be asked. */
  readonly networks: readonly DoctorNetwork[] | undefined;
  readonly socket: SocketState;
}

export interface DoctorContext {
  readonly probe: DoctorProbe;
  readonly options: DoctorOptions;
  readonly facts: DoctorFacts;
}

/** One check: may return several results (one per kernel feature, say). */
export type Check = (ctx: DoctorContext) => Promise<CheckResult | readonly CheckResult[]>;

/** The Docker driver name of the plugin: the socket's base name (`tsnet.sock` → `tsnet`). */
export function pluginName(socketPath: string): string {
  const base = socketPath.split('/').at(-1) ?? socketPath;
  return base.replace(/\.sock$/, '');
}

/** Networks of the given types, by name, for messages ("used by overlay network app"). */
export function networksOfType(networks: readonly DoctorNetwork[] | undefined, types: readonly string[]): DoctorNetwork[] {
  return (networks ?? []).filter((n) => types.includes(n.type));
}
