import { describe, expect, test } from 'vitest';
import { vethContainerGone, vethNames } from '../../../drivers/veth.js';
import { JOIN_SETTLE_MS, type EndpointRecord } from '../../../src/core/model.js';
import type { LinkInfo } from '../../../src/host/hostnet.js';
import { EP_1, NET_A } from './fixtures.js';

const JOINED_AT = Date.parse('2026-12-02T00:00:00.000Z');
const endpoint = (joinedAt: string | null = new Date(JOINED_AT).toISOString()): EndpointRecord => ({
  networkId: NET_A, id: EP_1, mac: '02:42:0a:00:00:02', macGenerated: false, state: 'ready', sandboxKey: '/var/run/docker/netns/x',
  ...(joinedAt ? { joinedAt } : {}), exposedPorts: [], ports: [], createdAt: new Date(JOINED_AT).toISOString(),
});
/** A host namespace holding exactly the links named. */
const hostWith = (...names: string[]) => ({ getLink: async (name: string): Promise<LinkInfo | undefined> => (names.includes(name) ? { name, index: 7, mtu: 1500, up: true } : undefined) });
const { hostIf, peerIf } = vethNames(EP_1);

describe('whether a joined endpoint\'s container is gone, from its veth pair', () => {
  test('the pair gone (the container\'s namespace took it): gone', async () => {
    expect(await vethContainerGone(hostWith(), endpoint(), JOINED_AT + 1)).toBe(true);
  });

  test('the container end in its sandbox: in use', async () => {
    expect(await vethContainerGone(hostWith(hostIf), endpoint(), JOINED_AT + 60_000)).toBe(false);
  });

  test('the container end back in the host namespace (Docker\'s Leave while tsnet was down): gone, once the Join has settled', async () => {
    // Until the container has started, Docker has not moved the container end: not evidence.
    expect(await vethContainerGone(hostWith(hostIf, peerIf), endpoint(), JOINED_AT + 10)).toBe(false);
    expect(await vethContainerGone(hostWith(hostIf, peerIf), endpoint(), JOINED_AT + JOIN_SETTLE_MS - 1)).toBe(false);
    expect(await vethContainerGone(hostWith(hostIf, peerIf), endpoint(), JOINED_AT + JOIN_SETTLE_MS + 1)).toBe(true);
    // A record from before tsnet kept joinedAt: the Join is long past.
    expect(await vethContainerGone(hostWith(hostIf, peerIf), endpoint(null), JOINED_AT)).toBe(true);
  });
});
