import type { HostNet, HostOp } from '../../src/host/hostnet.js';

/** The changes tsnet puts back on an adopted bridge. */
export type RestoreOp = Extract<HostOp, { op: 'remove-addr' | 'ensure-sysctl' | 'ensure-mtu' | 'ensure-down' }>;

/**
 * A bridge the user named and that existed before tsnet touched it is the user's: tsnet adopts
 * it and, when the network goes, puts back exactly what it changed. This computes that undo
 * plan from the bridge as it is now and the plan tsnet is about to apply. Host-wide sysctls
 * (ip_forward) are left alone: Docker and other networks need them too.
 */
export async function adoptionRestoreOps(host: HostNet, bridge: string, mtu: number, plan: readonly HostOp[]): Promise<RestoreOp[]> {
  const link = await host.getLink(bridge);
  if (!link) return [];
  const present = new Set(await host.listAddrs(bridge));
  const restore: RestoreOp[] = [];
  for (const op of plan) {
    if (op.op === 'ensure-addr' && op.dev === bridge && !present.has(op.cidr)) restore.push({ op: 'remove-addr', dev: bridge, cidr: op.cidr });
    if (op.op === 'ensure-sysctl' && op.key.includes(`/conf/${bridge}/`)) {
      const before = await host.readSysctl(op.key);
      if (before !== undefined && before !== op.value) restore.push({ op: 'ensure-sysctl', key: op.key, value: before });
    }
  }
  if (link.mtu !== mtu) restore.push({ op: 'ensure-mtu', dev: bridge, mtu: link.mtu });
  if (!link.up) restore.push({ op: 'ensure-down', dev: bridge });
  return restore;
}
