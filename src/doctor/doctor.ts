import { errorText } from '../core/errors.js';
import { isDockerDriverName } from '../core/ids.js';
import { TYPE_OPTION } from '../core/options.js';
import { fail, pluginName, type Check, type CheckResult, type DoctorFacts, type DoctorNetwork, type DoctorOptions } from './check.js';
import { etcdChecks } from './etcd.js';
import { backendCheck, dockerUserCheck, forwardCheck, ipForwardCheck, ipv6ForwardCheck, managerCheck } from './firewall.js';
import { kernelChecks } from './kernel.js';
import { mtuCheck, routesCheck, vxlanPortCheck } from './network.js';
import { namesChecks } from './names.js';
import type { DockerState, DoctorProbe } from './probe.js';
import { discoveryCheck, dockerCheck, rootCheck, socketCheck, socketModeCheck, stateDirCheck } from './services.js';

/** Every check, in the order the report lists them; the first id of each is its name when it throws. */
export const CHECKS: ReadonlyArray<{ readonly id: string; readonly run: Check }> = [
  { id: 'doctor.root', run: rootCheck },
  { id: 'kernel', run: kernelChecks },
  { id: 'sysctl.ip_forward', run: ipForwardCheck },
  { id: 'sysctl.ipv6_forward', run: ipv6ForwardCheck },
  { id: 'firewall.forward', run: forwardCheck },
  { id: 'firewall.docker-user', run: dockerUserCheck },
  { id: 'firewall.backend', run: backendCheck },
  { id: 'firewall.manager', run: managerCheck },
  { id: 'docker.api', run: dockerCheck },
  { id: 'plugin.socket', run: socketCheck },
  { id: 'plugin.socket-mode', run: socketModeCheck },
  { id: 'plugin.discovery', run: discoveryCheck },
  { id: 'state.dir', run: stateDirCheck },
  { id: 'etcd', run: etcdChecks },
  { id: 'overlay.mtu', run: mtuCheck },
  { id: 'routes.conflicts', run: routesCheck },
  { id: 'vxlan.port', run: vxlanPortCheck },
  { id: 'names.resolver', run: namesChecks },
];

/**
 * Runs every check against `probe` and returns their results in order. Nothing it finds on the
 * host makes it throw: a check that throws anyway (a bug, or a probe that could not cope)
 * becomes a FAIL line naming the check and the error, so the report is always complete.
 */
export async function runDoctor(probe: DoctorProbe, options: DoctorOptions, checks = CHECKS): Promise<CheckResult[]> {
  const facts = await gatherFacts(probe, options);
  const results: CheckResult[] = [];
  for (const check of checks) {
    try {
      const result = await check.run({ probe, options, facts });
      results.push(...(Array.isArray(result) ? result : [result as CheckResult]));
    } catch (err) {
      results.push(fail(check.id, `the check itself failed: ${errorText(err)}`));
    }
  }
  return results;
}

/** 0 when nothing failed (WARN and SKIP do not fail), else 1. Bad flags exit 2 before any check runs. */
export function exitStatus(results: readonly CheckResult[]): number {
  return results.some((r) => r.status === 'FAIL') ? 1 : 0;
}

async function gatherFacts(probe: DoctorProbe, options: DoctorOptions): Promise<DoctorFacts> {
  const docker: DoctorFacts['docker'] = options.dockerHost === 'none'
    ? { reachable: false, skipped: '--docker-host none: the daemon is told not to ask Docker' }
    : await probe.docker(options.dockerHost).catch((err: unknown): DockerState => ({ reachable: false, error: errorText(err) }));
  const socket = await probe.pluginSocket(options.socketPath);
  return { docker, networks: docker.reachable ? networksOf(docker, pluginName(options.socketPath)) : undefined, socket };
}

function networksOf(docker: Extract<DockerState, { reachable: true }>, name: string): DoctorNetwork[] {
  return docker.networks.filter((n) => isDockerDriverName(n.driver, name)).map((n) => ({
    name: n.name, type: n.options[TYPE_OPTION] || 'bridge', options: n.options, subnets: n.subnets,
  }));
}
