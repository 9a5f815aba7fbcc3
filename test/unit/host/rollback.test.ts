import { pino } from 'pino';
import { describe, expect, test } from 'vitest';
import { applyOps } from '../../../src/host/apply.js';
import { inverseOf, renderOp, type HostNet, type HostOp } from '../../../src/host/hostnet.js';
import { RecordingHostNet } from '../../../src/host/recording.js';

const log = pino({ level: 'silent' });

/** Every op that creates something, in an order a driver could use (each needs the ones before). */
const PLAN: readonly HostOp[] = [
  { op: 'ensure-bridge', name: 'tsnb-1', mtu: 1450, mac: '02:00:00:00:00:01' },
  { op: 'ensure-mac', dev: 'tsnb-1', mac: '02:00:00:00:00:02' },
  { op: 'ensure-addr', dev: 'tsnb-1', cidr: '10.9.0.1/24' },
  { op: 'ensure-up', dev: 'tsnb-1' },
  { op: 'ensure-sysctl', key: 'net/ipv4/conf/tsnb-1/route_localnet', value: '1' },
  { op: 'ensure-vxlan', name: 'tsnx-1', vni: 42, local: '192.0.2.10', port: 4789, mtu: 1450, master: 'tsnb-1' },
  { op: 'ensure-flood', dev: 'tsnx-1', dst: '192.0.2.11' },
  { op: 'ensure-fdb', dev: 'tsnx-1', mac: '02:00:00:00:00:03', dst: '192.0.2.11' },
  { op: 'ensure-neigh', dev: 'tsnx-1', ip: '10.9.0.3', mac: '02:00:00:00:00:03' },
  { op: 'ensure-veth', host: 'tsnv-1', peer: 'tsnp-1', master: 'tsnb-1', mtu: 1450, peerMac: '02:00:00:00:00:04' },
  { op: 'ensure-macvlan', name: 'tsnm-1', parent: 'eth0', mode: 'bridge', mtu: 1500 },
  { op: 'ensure-ipvlan', name: 'tsni-1', parent: 'eth0', mode: 'l2' },
  { op: 'ensure-vlan', name: 'eth0.42', parent: 'eth0', vlanId: 42 },
];

/** What a rollback must restore: links, addresses and forwarding entries (sysctls, MTUs and MACs tsnet sets may stay). */
async function state(host: HostNet): Promise<string> {
  const links = await host.listLinks();
  const parts: string[] = [];
  for (const link of links.sort((a, b) => a.name.localeCompare(b.name))) {
    parts.push(`${link.name} kind=${link.kind ?? '-'} master=${link.master ?? '-'} up=${link.up}`);
    parts.push(`  addrs ${(await host.listAddrs(link.name)).join(',')}`);
    parts.push(`  fdb ${(await host.listFdb(link.name)).map((e) => `${e.mac}>${e.dst}`).join(',')}`);
    parts.push(`  neigh ${(await host.listNeigh(link.name)).map((e) => `${e.ip}=${e.mac}`).join(',')}`);
  }
  return parts.join('\n');
}

async function hostWithParent(): Promise<RecordingHostNet> {
  const host = new RecordingHostNet();
  await host.apply({ op: 'ensure-bridge', name: 'eth0', mtu: 1500 }); // stands in for the uplink the sub-interfaces hang off
  host.clearLog();
  return host;
}

describe('rollback (applyOps), with the undo rules of inverseOf', () => {
  test('every creating op has an inverse, and ops that remove or only tune have none', () => {
    for (const op of PLAN) {
      const inverse = inverseOf(op);
      if (['ensure-mac', 'ensure-sysctl'].includes(op.op)) expect(inverse, renderOp(op)).toEqual([]);
      else expect(inverse.length, renderOp(op)).toBeGreaterThan(0);
      for (const i of inverse) expect(inverseOf(i), `${renderOp(i)} is not itself undone`).toEqual([]);
    }
  });

  test.each(PLAN.map((op, step) => [step, op.op] as const))('a failure at step %i (%s) leaves the host as it was', async (step) => {
    const host = await hostWithParent();
    const before = await state(host);
    const failing = PLAN[step] as HostOp;
    host.failOn = (op) => op === failing;
    await expect(applyOps(host, PLAN, log)).rejects.toMatchObject({ code: 'TSNET_HOST_APPLY' });
    host.failOn = undefined;
    expect(await state(host)).toBe(before);
  });

  test('the whole plan applied and then failing after it is taken back completely; what already held is left alone', async () => {
    const host = await hostWithParent();
    await host.apply({ op: 'ensure-addr', dev: 'eth0', cidr: '192.0.2.10/24' });
    const before = await state(host);
    const failAfter: HostOp = { op: 'remove-link', name: 'never-there' };
    host.failOn = (op) => op === failAfter;
    await expect(applyOps(host, [...PLAN, { op: 'ensure-addr', dev: 'eth0', cidr: '192.0.2.10/24' }, failAfter], log)).rejects.toThrow(/could not remove never-there/);
    host.failOn = undefined;
    expect(await state(host)).toBe(before);
    // The address that was already there was not reported as a change, so it was not removed.
    expect(host.dump()).not.toContain('remove-addr dev=eth0');
  });
});
