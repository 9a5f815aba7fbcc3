import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { postPlugin } from '../../../plugin-spec/conformance/client.js';
import { execIn } from '../../support/netns.js';
import { netnsDaemon } from '../../support/netns-daemon.js';

// Races through the real socket, as the trust review ran them: the daemon in a namespace of
// its own, calls made in parallel exactly as dockerd makes them.

const fixture = netnsDaemon('race');
const { ns } = fixture;

const call = (method: string, body: unknown) => postPlugin(fixture.daemon().socketPath, method, JSON.stringify(body), 30_000);
const netId = (round: number, n: number) => `r${String(round).padStart(3, '0')}n${n}${'0'.repeat(58)}`;
const create = (id: string, subnet: string) => call('NetworkDriver.CreateNetwork', {
  NetworkID: id,
  Options: { 'com.docker.network.generic': {} },
  IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: subnet, Gateway: subnet.replace(/0\/(\d+)$/, '1/$1') }],
  IPv6Data: [],
});

describe('races through the socket', () => {
  test('8 parallel CreateNetwork with overlapping subnets: exactly one accepted, 50 rounds, nothing left behind', async () => {
    for (let round = 0; round < 50; round++) {
      const subnets = round % 2 === 0 ? ['10.132.0.0/16', ...Array.from({ length: 7 }, (_, n) => `10.132.${n}.0/24`)] : Array<string>(8).fill('10.131.0.0/24');
      const replies = await Promise.all(subnets.map((subnet, n) => create(netId(round, n), subnet)));
      for (const reply of replies) expect(reply.status, reply.text).toBe(200);
      const accepted = replies.map((r, n) => ({ r, n })).filter(({ r }) => r.json && !('Err' in r.json));
      expect(accepted.map(({ n }) => subnets[n]), `round ${round}: ${replies.map((r) => r.text).join(' | ')}`).toHaveLength(1);
      for (const reply of replies.filter((r) => r.json && 'Err' in r.json)) expect(String(reply.json?.Err)).toMatch(/overlaps .* of tsnet network/);
      for (const { n } of accepted) expect((await call('NetworkDriver.DeleteNetwork', { NetworkID: netId(round, n) })).json).toEqual({});
    }
    const links = JSON.parse((await execIn(ns, ['ip', '-json', 'link', 'show'])).stdout) as Array<{ ifname: string }>;
    expect(links.map((l) => l.ifname).filter((n) => n.startsWith('tsn'))).toEqual([]);
    expect((await execIn(ns, ['iptables-save'])).stdout).not.toMatch(/tsnet:r\d{3}/);
  });
});
