import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { UnixDockerEngine } from '../../../src/docker/engine.js';

// The Engine API client against a dockerd stand-in on a unix socket: what it reads, and that a
// stopping daemon can abandon a request dockerd does not answer.
let server: Server | undefined;
let dir: string | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  if (dir) await rm(dir, { recursive: true, force: true });
  server = undefined;
  dir = undefined;
});

async function dockerd(routes: Record<string, (reply: (status: number, body: unknown) => void) => void>): Promise<UnixDockerEngine> {
  dir = await mkdtemp(join(tmpdir(), 'tsnet-engine-'));
  const socketPath = join(dir, 'docker.sock');
  server = createServer((req, res) => {
    const route = routes[req.url ?? ''];
    const reply = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (route) route(reply);
    else reply(404, { message: 'no such network' });
  });
  await new Promise<void>((resolve) => server?.listen(socketPath, resolve));
  return new UnixDockerEngine(socketPath);
}

describe('UnixDockerEngine', () => {
  test('reads networks, endpoints and identity; a network that is gone is undefined', async () => {
    const engine = await dockerd({
      '/networks': (reply) => reply(200, [{ Id: 'n1', Name: 'blue', Driver: 'tsnet', IPAM: { Driver: 'default', Config: [{ Subnet: '10.1.0.0/24', Gateway: '10.1.0.1' }] } }]),
      '/networks/n1': (reply) => reply(200, { Id: 'n1', Containers: { c1: { Name: 'web', EndpointID: 'e1', IPv4Address: '10.1.0.2/24', IPv6Address: '' } } }),
      '/info': (reply) => reply(200, { ID: 'ABCD', Name: 'host1' }),
    });
    expect(await engine.networks()).toEqual([{ id: 'n1', name: 'blue', driver: 'tsnet', ipamDriver: 'default', options: {}, subnets: [{ subnet: '10.1.0.0/24', ipRange: undefined, gateway: '10.1.0.1', aux: [] }] }]);
    expect(await engine.endpoints('n1')).toEqual([{ containerId: 'c1', endpointId: 'e1', name: 'web', ipv4: '10.1.0.2/24', ipv6: '' }]);
    expect(await engine.endpoints('gone')).toBeUndefined();
    expect(await engine.identity()).toBe('ABCD@host1');
  });

  test('an aborted signal ends a request dockerd does not answer, at once and as TSNET_ABORTED', async () => {
    const engine = await dockerd({ '/networks': () => undefined });
    const controller = new AbortController();
    const pending = engine.networks(controller.signal);
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toMatchObject({ code: 'TSNET_ABORTED' });
    await expect(engine.identity(controller.signal)).rejects.toMatchObject({ code: 'TSNET_ABORTED' });
  });

  test('a dockerd that is not there is TSNET_DOCKER_UNREACHABLE with the socket in the message', async () => {
    const engine = new UnixDockerEngine('/nonexistent/docker.sock');
    await expect(engine.networks()).rejects.toMatchObject({ code: 'TSNET_DOCKER_UNREACHABLE', message: expect.stringContaining('unix:///nonexistent/docker.sock') });
  });
});
