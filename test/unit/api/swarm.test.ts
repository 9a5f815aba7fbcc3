import { describe, expect, test } from 'vitest';
import { buildApp } from '../../../src/api/app.js';
import { registerNetworkRoutes } from '../../../src/api/network-routes.js';
import type { NetworkService } from '../../../src/cnm/service.js';
import { NET_A, silentLog } from '../bridge/fixtures.js';

// A swarm manager calls AllocateNetwork and stores the answer's Options as the network's driver
// state; a worker's CreateNetwork then gets those options and nothing else of what the user gave.
describe('NetworkDriver.AllocateNetwork (swarm manager)', () => {
  const app = buildApp({ log: silentLog, ready: Promise.resolve(), handlerTimeoutMs: 5_000, bodyLimit: 1024 * 1024 }, (define) => {
    registerNetworkRoutes(define, { service: () => ({}) as NetworkService, scope: { scope: 'global', connectivityScope: 'global' } });
  });
  const post = (body: unknown) => app.inject({ method: 'POST', url: '/NetworkDriver.AllocateNetwork', payload: JSON.stringify(body) });

  test('answers with the user\'s options unchanged, so every worker creates the network the user asked for', async () => {
    const options = { 'tsnet.type': 'overlay', 'tsnet.overlay.name': 'web', 'com.docker.network.driver.mtu': '1400' };
    const reply = await post({ NetworkID: NET_A, Options: options, IPv4Data: [{ AddressSpace: 'GlobalDefault', Pool: '10.0.0.0/24', Gateway: '10.0.0.1/24' }], IPv6Data: null });
    expect(reply.statusCode).toBe(200);
    expect(reply.json()).toEqual({ Options: options });
  });

  test('no options: an empty map', async () => {
    expect((await post({ NetworkID: NET_A })).json()).toEqual({ Options: {} });
  });
});
