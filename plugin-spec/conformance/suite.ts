import { describe, expect, test } from 'vitest';
import { methods, methodNames, type MethodName } from '../methods.js';
import { postPlugin } from './client.js';

export interface ConformanceOptions {
  /** Socket of the plugin under test (read lazily: it is usually started in beforeAll). */
  readonly socketPath: () => string;
  /** Interfaces the plugin announces in Plugin.Activate. */
  readonly implements: readonly string[];
}

const ID = 'c0'.repeat(32);

/** For each method: bodies that are well-formed JSON but wrong, and the field they must name. */
const WRONG: Partial<Record<MethodName, Array<[unknown, string]>>> = {
  'NetworkDriver.CreateNetwork': [[{}, 'NetworkID'], [{ NetworkID: 5 }, 'NetworkID'], [{ NetworkID: ID, IPv4Data: [{ Pool: 'nope' }] }, 'IPv4Data[0].Pool'], [{ NetworkID: 'x'.repeat(300) }, 'NetworkID']],
  'NetworkDriver.DeleteNetwork': [[{}, 'NetworkID'], [{ NetworkID: [] }, 'NetworkID']],
  'NetworkDriver.AllocateNetwork': [[{}, 'NetworkID']],
  'NetworkDriver.FreeNetwork': [[{ NetworkID: {} }, 'NetworkID']],
  'NetworkDriver.CreateEndpoint': [[{ NetworkID: ID }, 'EndpointID'], [{ NetworkID: ID, EndpointID: ID, Interface: { Address: '10.0.0.2' } }, 'Interface.Address'], [{ NetworkID: ID, EndpointID: ID, Interface: { MacAddress: 'xyz' } }, 'Interface.MacAddress']],
  'NetworkDriver.EndpointOperInfo': [[{ NetworkID: ID }, 'EndpointID']],
  'NetworkDriver.DeleteEndpoint': [[{ EndpointID: ID }, 'NetworkID']],
  'NetworkDriver.Join': [[{ NetworkID: ID, EndpointID: ID }, 'SandboxKey'], [{ NetworkID: ID, EndpointID: ID, SandboxKey: 'rel' }, 'SandboxKey']],
  'NetworkDriver.Leave': [[{ NetworkID: true, EndpointID: ID }, 'NetworkID']],
  'NetworkDriver.ProgramExternalConnectivity': [[{ NetworkID: ID, EndpointID: ID, Options: { 'com.docker.network.portmap': [{ Proto: 99, Port: 1 }] } }, 'Proto'], [{ NetworkID: ID, EndpointID: ID, Options: { 'com.docker.network.portmap': [{ Proto: 6, Port: 70000 }] } }, 'Port']],
  'NetworkDriver.RevokeExternalConnectivity': [[{ NetworkID: ID }, 'EndpointID']],
  'NetworkDriver.DiscoverNew': [[{ DiscoveryType: 'x' }, 'DiscoveryType']],
  'NetworkDriver.DiscoverDelete': [[{}, 'DiscoveryType']],
  'IpamDriver.RequestPool': [[{ AddressSpace: 5 }, 'AddressSpace'], [{ AddressSpace: 'x', Pool: '10.0.0.0/99' }, 'Pool']],
  'IpamDriver.ReleasePool': [[{}, 'PoolID']],
  'IpamDriver.RequestAddress': [[{ PoolID: 'p', Address: 'nope' }, 'Address']],
  'IpamDriver.ReleaseAddress': [[{ PoolID: 'p' }, 'Address']],
};

/**
 * The protocol conformance suite, runnable against any plugin socket: handshake, Docker's
 * body quirks, and bad input of every kind, which must each get a 4xx or an {"Err"} naming the
 * problem without bringing the plugin down.
 */
export function pluginConformance(options: ConformanceOptions): void {
  const call = (method: string, body?: string | Buffer) => postPlugin(options.socketPath(), method, body);
  const announced = (method: MethodName) => options.implements.includes(methods[method].interface) || methods[method].interface === 'Plugin';

  describe('plugin protocol conformance', () => {
    test('Plugin.Activate announces the implemented interfaces', async () => {
      const reply = await call('Plugin.Activate');
      expect(reply.status).toBe(200);
      expect(reply.json?.Implements).toEqual([...options.implements]);
    });

    test('no-argument methods accept an empty body, null and {}', async () => {
      for (const method of methodNames.filter((m) => methods[m].noArguments && announced(m))) {
        for (const body of [undefined, 'null', '{}']) {
          const reply = await call(method, body);
          expect(reply.status, `${method} with ${String(body)}`).toBe(200);
          expect(methods[method].response.safeParse(reply.json).success, `${method} reply ${reply.text}`).toBe(true);
        }
      }
    });

    test('unparseable JSON gets HTTP 400 with an Err', async () => {
      for (const method of methodNames.filter(announced)) {
        const reply = await call(method, '{"NetworkID": ');
        expect(reply.status, method).toBe(400);
        expect(typeof reply.json?.Err, method).toBe('string');
      }
    });

    test('well-formed bodies with wrong or missing fields are refused naming the field', async () => {
      for (const [method, cases] of Object.entries(WRONG) as Array<[MethodName, Array<[unknown, string]>]>) {
        if (!announced(method)) continue;
        for (const [body, field] of cases) {
          const reply = await call(method, JSON.stringify(body));
          expect([200, 400], `${method} ${JSON.stringify(body)}`).toContain(reply.status);
          expect(String(reply.json?.Err ?? ''), `${method} ${JSON.stringify(body).slice(0, 80)}`).toContain(field);
        }
      }
    });

    test('wrong top-level types are refused', async () => {
      for (const method of methodNames.filter((m) => !methods[m].noArguments && announced(m))) {
        for (const body of ['[]', '"text"', '42', 'true']) {
          const reply = await call(method, body);
          expect(reply.status, `${method} ${body}`).toBe(400);
          expect(reply.json?.Err, `${method} ${body}`).toEqual(expect.any(String));
        }
      }
    });

    test('an oversized body is refused with 413 and the plugin survives', async () => {
      const huge = JSON.stringify({ NetworkID: ID, Options: { blob: 'x'.repeat(2 * 1024 * 1024) } });
      const reply = await call('NetworkDriver.CreateNetwork', huge);
      expect(reply.status).toBe(413);
      expect(reply.json?.Err).toEqual(expect.any(String));
    });

    test('an unknown method gets 404', async () => {
      for (const method of ['NetworkDriver.NoSuchMethod', 'Nope.Activate', 'IpamDriver.Frobnicate']) {
        const reply = await call(method, '{}');
        expect(reply.status, method).toBe(404);
      }
    });

    test('after all of that, the plugin still answers Plugin.Activate', async () => {
      expect((await call('Plugin.Activate')).status).toBe(200);
    });
  });
}
