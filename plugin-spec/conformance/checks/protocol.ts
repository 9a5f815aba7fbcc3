import { methods, methodNames, type MethodName } from '../../methods.js';
import type { PluginReply } from '../client.js';
import { unknownMethods, unparseableBodies } from '../cases.js';
import {
  brief, CheckFailure, expectThat, asOutcome, refusalText, type Check, type CheckContext, type CheckInterface,
} from '../registry.js';

// Checks of the wire itself: how bodies arrive and how bad ones are refused. They need no state
// in the plugin, except tolerance.unknown-fields and tolerance.null-options, which clean up.

const ALL = ['20.10', '28'] as const;
const IFACE: Record<string, CheckInterface> = { NetworkDriver: 'network', IpamDriver: 'ipam' };

/** The argument-less methods of the interfaces under test (Plugin.Activate always). */
function noArgumentMethods(ctx: CheckContext): MethodName[] {
  return methodNames.filter((m) => {
    const iface = IFACE[methods[m].interface];
    return methods[m].noArguments && (iface === undefined || ctx.has(iface));
  });
}

/** After a bad request: the plugin must still answer Plugin.Activate, or it crashed or wedged. */
async function stillAnswers(ctx: CheckContext, after: string): Promise<void> {
  const reply = await ctx.call('Plugin.Activate').catch((err: Error) => {
    throw new CheckFailure(`the plugin stopped answering after ${after}: ${err.message}`);
  });
  expectThat(reply.status === 200, `Plugin.Activate answered HTTP ${reply.status} after ${after}: ${brief(reply)}`);
}

/** A refusal with a message Docker can show: a 4xx with `Err`, or a 200 refusal. Never 5xx, never success. */
function refusalProblem(method: string, reply: PluginReply): string | undefined {
  const message = refusalText(method, reply);
  if (reply.status >= 500) return `HTTP ${reply.status} (a crash, as Docker reports it): ${brief(reply)}`;
  if (message === undefined) {
    return reply.status === 200 && method.startsWith('IpamDriver.') && /"err"/i.test(reply.text)
      ? `a 200 with "Err" is success to dockerd's IPAM client; put the message in "Error": ${brief(reply)}`
      : `not refused with a message (HTTP ${reply.status} ${brief(reply)})`;
  }
  return undefined;
}

/** Handshake, tolerance and refusal checks, in the order they run. */
export const protocolChecks: readonly Check[] = [
  {
    id: 'handshake.activate',
    rationale: 'dockerd calls Plugin.Activate with an empty body and uses only the interfaces in Implements (pkg/plugins/plugins.go activateWithLock)',
    needs: [], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      const reply = await ctx.succeed('Plugin.Activate');
      const implemented = (reply.Implements as string[] | undefined) ?? [];
      for (const iface of ctx.interfaces) {
        const name = iface === 'network' ? 'NetworkDriver' : 'IpamDriver';
        expectThat(implemented.includes(name), `--interfaces asks for ${iface}, but Activate announces ${JSON.stringify(implemented)}: Docker would never call its ${name} methods`);
      }
    }),
  },
  {
    id: 'tolerance.empty-body',
    rationale: 'dockerd sends argument-less calls (Activate, GetCapabilities, GetDefaultAddressSpaces) with an empty body or null and no Content-Type (pkg/plugins/client.go callWithRetry)',
    needs: [], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      for (const method of noArgumentMethods(ctx)) {
        for (const body of [undefined, 'null', '{}']) {
          await ctx.succeed(method, body).catch((err: Error) => {
            throw new CheckFailure(`${err.message} [body ${body ?? 'empty'}, no Content-Type]`);
          });
        }
      }
    }),
  },
  {
    id: 'tolerance.content-type',
    rationale: 'other clients (curl, plugin helpers) send a Content-Type; the body is JSON whatever it says',
    needs: [], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      for (const type of ['application/json', 'text/plain', 'application/vnd.docker.plugins.v1.2+json']) {
        const reply = await ctx.call('Plugin.Activate', '{}', { 'Content-Type': type });
        expectThat(reply.status === 200, `Plugin.Activate with Content-Type ${type} answered HTTP ${reply.status}: ${brief(reply)}`);
      }
    }),
  },
  {
    id: 'tolerance.unknown-method',
    rationale: 'a 404 is how a plugin says "not implemented": dockerd skips optional methods only when plugins.IsNotFound(err), which looks at the status alone (drivers/remote/driver.go ProgramExternalConnectivity); any other status is an error it reports',
    needs: [], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      for (const method of unknownMethods) {
        const reply = await ctx.call(method, '{}');
        expectThat(reply.status === 404, `${method} answered HTTP ${reply.status}, expected 404: ${brief(reply)}`);
      }
    }),
  },
  {
    id: 'refusal.malformed-json',
    rationale: 'a body that is not JSON must get a 4xx with {"Err"} (dockerd shows Err to the user), never a crash; the plugin serves every network of the host',
    needs: [], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      const targets = ['Plugin.Activate', ...(ctx.has('network') ? ['NetworkDriver.CreateNetwork', 'NetworkDriver.Join'] : []), ...(ctx.has('ipam') ? ['IpamDriver.RequestPool'] : [])];
      for (const method of targets) {
        for (const body of unparseableBodies) {
          const reply = await ctx.call(method, body);
          const ok = reply.status >= 400 && reply.status < 500 && refusalText(method, reply) !== undefined;
          expectThat(ok, `${method} with body ${JSON.stringify(body)}: expected a 4xx with {"Err"}, got HTTP ${reply.status} ${brief(reply)}`);
        }
      }
      await stillAnswers(ctx, 'malformed JSON');
    }),
  },
  {
    id: 'refusal.wrong-types',
    rationale: 'a field of the wrong JSON type must be refused with a message naming it (as Go\'s decoder does), never a crash or a half-made object',
    needs: ['network', 'ipam'], needsAny: true, docker: ALL,
    run: (ctx) => asOutcome(async () => {
      const cases: Array<[MethodName, unknown, string]> = [
        ...(ctx.has('network') ? [
          ['NetworkDriver.CreateNetwork', { NetworkID: 5 }, 'NetworkID'],
          ['NetworkDriver.DeleteNetwork', { NetworkID: [] }, 'NetworkID'],
          ['NetworkDriver.CreateEndpoint', { NetworkID: ctx.newId(), EndpointID: ctx.newId(), Interface: 'x' }, 'Interface'],
          ['NetworkDriver.Join', { NetworkID: ctx.newId(), EndpointID: ctx.newId(), SandboxKey: 42 }, 'SandboxKey'],
          ['NetworkDriver.DiscoverNew', { DiscoveryType: 'node' }, 'DiscoveryType'],
        ] as Array<[MethodName, unknown, string]> : []),
        ...(ctx.has('ipam') ? [
          ['IpamDriver.RequestPool', { AddressSpace: 5 }, 'AddressSpace'],
          ['IpamDriver.ReleasePool', { PoolID: 3 }, 'PoolID'],
          ['IpamDriver.RequestAddress', { PoolID: 'p', Address: 10 }, 'Address'],
        ] as Array<[MethodName, unknown, string]> : []),
      ];
      for (const [method, body, field] of cases) {
        const reply = await ctx.call(method, body);
        const problem = refusalProblem(method, reply) ?? (refusalText(method, reply)?.includes(field) ? undefined : `the message should name ${field}: ${brief(reply)}`);
        expectThat(problem === undefined, `${method} ${JSON.stringify(body)}: ${problem}`);
      }
      await stillAnswers(ctx, 'wrongly typed fields');
    }),
  },
  {
    id: 'refusal.oversized-body',
    rationale: 'a 2 MiB body must be refused (413 or 400 with {"Err"}) without reading it all into memory, a crash or a hang',
    needs: ['network', 'ipam'], needsAny: true, docker: ALL,
    run: (ctx) => asOutcome(async () => {
      const pad = { pad: 'x'.repeat(2 * 1024 * 1024) };
      const [method, huge] = ctx.has('network')
        ? ['NetworkDriver.CreateNetwork', JSON.stringify({ NetworkID: ctx.newId(), Options: pad })]
        : ['IpamDriver.RequestPool', JSON.stringify({ AddressSpace: 'x', Pool: '', Options: pad })];
      const reply = await ctx.call(method, huge).catch((err: Error) => {
        throw new CheckFailure(`${method} with a 2 MiB body: ${err.message}`);
      });
      const ok = (reply.status === 413 || reply.status === 400) && refusalText(method, reply) !== undefined;
      expectThat(ok, `${method} with a 2 MiB body: expected 413 or 400 with {"Err"}, got HTTP ${reply.status} ${brief(reply)}`);
      await stillAnswers(ctx, 'an oversized body');
    }),
  },
  {
    id: 'tolerance.unknown-fields',
    rationale: 'newer dockerd versions add request fields (Go\'s encoding/json ignores unknown ones); a plugin must ignore them too, or break on the next Docker upgrade',
    needs: ['network', 'ipam'], needsAny: true, docker: ALL,
    run: (ctx) => asOutcome(async () => {
      const extra = { FieldFromNewerDocker: { Nested: [1, 'two'] }, AnotherOne: 'x' };
      if (ctx.has('ipam')) {
        const pool = await ctx.succeed('IpamDriver.RequestPool', { AddressSpace: await localSpace(ctx), Pool: '10.197.1.0/24', SubPool: '', Options: {}, V6: false, ...extra })
          .catch(wrap('RequestPool with unknown fields'));
        ctx.onCleanup('ReleasePool', () => ctx.call('IpamDriver.ReleasePool', { PoolID: pool.PoolID }));
      }
      if (ctx.has('network')) {
        const id = ctx.newId();
        await ctx.succeed('NetworkDriver.CreateNetwork', { NetworkID: id, Options: { 'com.docker.network.generic': {} }, IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.197.2.0/24', Gateway: '10.197.2.1/24', AuxAddresses: {} }], IPv6Data: [], ...extra })
          .catch(wrap('CreateNetwork with unknown fields'));
        ctx.onCleanup('DeleteNetwork', () => ctx.call('NetworkDriver.DeleteNetwork', { NetworkID: id }));
      }
    }),
  },
  {
    id: 'tolerance.null-options',
    rationale: 'Go encodes a nil map as null: dockerd sends RequestAddress "Options": null and an empty IPv6Data as null; a plugin must read null as absent',
    needs: ['network', 'ipam'], needsAny: true, docker: ALL,
    run: (ctx) => asOutcome(async () => {
      if (ctx.has('ipam')) {
        const pool = await ctx.succeed('IpamDriver.RequestPool', { AddressSpace: await localSpace(ctx), Pool: '10.197.3.0/24', SubPool: '', Options: null, V6: false })
          .catch(wrap('RequestPool with Options null'));
        ctx.onCleanup('ReleasePool', () => ctx.call('IpamDriver.ReleasePool', { PoolID: pool.PoolID }));
        const address = await ctx.succeed('IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: null })
          .catch(wrap('RequestAddress with Options null'));
        ctx.onCleanup('ReleaseAddress', () => ctx.call('IpamDriver.ReleaseAddress', { PoolID: pool.PoolID, Address: String(address.Address).split('/')[0] }));
      }
      if (ctx.has('network')) {
        const id = ctx.newId();
        await ctx.succeed('NetworkDriver.CreateNetwork', { NetworkID: id, Options: null, IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '10.197.4.0/24', Gateway: '10.197.4.1/24', AuxAddresses: null }], IPv6Data: null })
          .catch(wrap('CreateNetwork with Options, AuxAddresses and IPv6Data null'));
        ctx.onCleanup('DeleteNetwork', () => ctx.call('NetworkDriver.DeleteNetwork', { NetworkID: id }));
      }
    }),
  },
];

/** The plugin's local default address space, which dockerd uses for local-scope networks. */
export async function localSpace(ctx: CheckContext): Promise<string> {
  const spaces = await ctx.succeed('IpamDriver.GetDefaultAddressSpaces');
  const name = spaces.LocalDefaultAddressSpace;
  if (typeof name !== 'string' || name === '') throw new CheckFailure('GetDefaultAddressSpaces gave no LocalDefaultAddressSpace: dockerd has no address space to ask pools from');
  return name;
}

/** Prefixes a failure's reason with what was being done. */
export function wrap(doing: string): (err: unknown) => never {
  return (err: unknown) => {
    if (err instanceof CheckFailure) throw new CheckFailure(`${doing}: ${err.message}`);
    throw err;
  };
}
