import { randomBytes } from 'node:crypto';
import { run } from './exec.js';

/** A unique namespace name for tests: tsnt-<purpose>-<hex>. Only tests create tsnt- names. */
export function testNetnsName(purpose: string): string {
  return `tsnt-${purpose}-${randomBytes(3).toString('hex')}`;
}

export async function createNetns(name: string): Promise<void> {
  await run(['ip', 'netns', 'add', name]);
  await run(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
}

export async function deleteNetns(name: string): Promise<void> {
  await run(['ip', 'netns', 'delete', name], { allowFail: true });
}

/** Runs a command inside a namespace (fine for ping, nc, ip, iptables; not for dockerd). */
export function inNetns(name: string, argv: readonly string[], options: Parameters<typeof run>[1] = {}) {
  return run(['ip', 'netns', 'exec', name, ...argv], options);
}

/** Joins two namespaces with a veth pair and gives each end an address (CIDR). */
export async function linkNetns(a: { ns: string; ifname: string; cidr: string }, b: { ns: string; ifname: string; cidr: string }): Promise<void> {
  await run(['ip', '-n', a.ns, 'link', 'add', a.ifname, 'type', 'veth', 'peer', 'name', b.ifname, 'netns', b.ns]);
  for (const end of [a, b]) {
    await run(['ip', '-n', end.ns, 'addr', 'add', end.cidr, 'dev', end.ifname]);
    await run(['ip', '-n', end.ns, 'link', 'set', end.ifname, 'up']);
  }
}
