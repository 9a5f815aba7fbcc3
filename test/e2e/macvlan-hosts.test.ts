import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { waitFor } from '../support/exec.js';
import { startLab, type Lab } from '../support/lab.js';

/**
 * macvlan across two hosts of deploy/lab/lab.sh: each host's eth0 is on the lab's underlay
 * bridge, one L2 segment. With tsnet's shared pool (--ipam-driver tsnet, tsnet.scope=global)
 * the two hosts hand out addresses from one subnet and never the same one, which Docker's own
 * macvlan with its per-host IPAM cannot promise.
 */
let lab: Lab;
const NET = ['network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=macvlan', '-o', 'parent=eth0', '--ipam-driver', 'tsnet', '--ipam-opt', 'tsnet.scope=global', '--subnet', '10.64.0.0/24', 'lan'];

beforeAll(async () => {
  lab = await startLab(2);
}, 300_000);

afterAll(async () => {
  await lab?.down();
}, 400_000);

const docker = (h: string, ...args: string[]) => lab.docker(h, args);
const ipOf = async (h: string, c: string) => (await docker(h, 'inspect', '-f', '{{(index .NetworkSettings.Networks "lan").IPAddress}}', c)).stdout.trim();
const ping = (h: string, c: string, ip: string) => lab.docker(h, ['exec', c, 'ping', '-c', '1', '-W', '2', ip], { allowFail: true }).then((r) => r.code === 0);

describe('macvlan on two hosts of one segment, addresses from tsnet\'s shared pool', () => {
  test('containers on both hosts get distinct addresses of one subnet and reach each other across hosts', async () => {
    for (const h of ['h1', 'h2']) await docker(h, ...NET);
    const names: Array<[string, string]> = [['h1', 'a1'], ['h2', 'b1'], ['h1', 'a2'], ['h2', 'b2'], ['h1', 'a3'], ['h2', 'b3']];
    // Started in parallel, so both hosts claim addresses from the pool at the same time.
    await Promise.all(names.map(([h, c]) => docker(h, 'run', '-d', '--name', c, '--network', 'lan', 'tsbox', 'sleep', '600')));
    const ips = await Promise.all(names.map(([h, c]) => ipOf(h, c)));
    expect(new Set(ips).size, ips.join(' ')).toBe(names.length);
    for (const ip of ips) expect(ip).toMatch(/^10\.64\.0\.\d+$/);
    const [a1, b1] = [ips[0] as string, ips[1] as string];
    await waitFor(() => ping('h1', 'a1', b1), 'a1 on h1 to reach b1 on h2', 15_000, 300);
    await waitFor(() => ping('h2', 'b1', a1), 'b1 on h2 to reach a1 on h1', 15_000, 300);
    for (const [h, c] of names) await docker(h, 'rm', '-f', c);
    for (const h of ['h1', 'h2']) await docker(h, 'network', 'rm', 'lan');
    for (const h of ['h1', 'h2']) expect((await lab.exec(h, ['ip', '-o', 'link', 'show', 'type', 'macvlan'])).stdout.trim()).toBe('');
  });
});
