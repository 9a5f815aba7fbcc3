import { describe, expect, test, type TestContext } from 'vitest';
import { methodNames, methods, type MethodName } from '../../plugin-spec/methods.js';
import { badRequests, unknownMethods, unparseableBodies, wrongTopLevelBodies } from '../../plugin-spec/conformance/cases.js';
import {
  activateProblems, badBodyProblems, notFoundProblems, oversizeProblems, refusalProblems, successProblems, type ErrorContract,
} from './protocol-contract-checks.js';
import { postPlugin, type PluginReply } from '../../plugin-spec/conformance/client.js';

export { postPlugin, type PluginReply, type PostOptions } from '../../plugin-spec/conformance/client.js';
export type { ErrorContract } from './protocol-contract-checks.js';

/** Options of {@link pluginConformance}. */
export interface ConformanceOptions {
  /** Socket of the plugin under test, read when each test runs (it is usually started in beforeAll). */
  readonly socketPath: () => string;
  /**
   * The interfaces the plugin must announce in Plugin.Activate, exactly. Every method of these
   * interfaces is then tested unconditionally (whatever the plugin announces), and methods of
   * other interfaces are not registered at all. Pass a literal list, not the plugin's own
   * constant: a plugin that dropped an interface must fail here, not skip its tests.
   * When omitted, any list containing NetworkDriver passes, and IpamDriver methods are tested
   * only if announced (skipped otherwise, as Docker would not call them).
   */
  readonly implements?: readonly string[];
  /** Error-reply rules to enforce; default `tsnet`. See {@link ErrorContract}. */
  readonly contract?: ErrorContract;
  /** Size of the oversized body, default 2 MiB; must exceed the plugin's body limit. */
  readonly oversizeBytes?: number;
}

/**
 * Registers vitest tests that hold a live plugin socket to Docker's remote protocol: the
 * handshake, the bodies dockerd really sends to argument-less methods (empty, `null`; `{}` from
 * other clients), refusal of unparseable JSON, of wrong top-level types and of every
 * {@link badRequests} case naming the field, 404 for unknown methods, an oversized body refused
 * without a crash, and Plugin.Activate still answering after all of that. Every bad body is
 * refused before it can change anything, so it is safe against a daemon with real state.
 * Calls are made exactly like dockerd's (see {@link postPlugin}). Call it at the top level of
 * a test file or inside a describe; the tests run in order.
 */
export function pluginConformance(options: ConformanceOptions): void {
  const contract = options.contract ?? 'tsnet';
  const call = (method: string, body?: string, headers?: Record<string, string>): Promise<PluginReply> =>
    postPlugin(options.socketPath(), method, body, headers ? { headers } : {});

  /** What the plugin itself announces; consulted only when no list was declared. */
  let announced: Promise<readonly string[]> | undefined;
  const interfaces = (): Promise<readonly string[]> => {
    announced ??= call('Plugin.Activate').then((r) => (Array.isArray(r.json?.Implements) ? (r.json.Implements as string[]) : []));
    return announced;
  };
  /**
   * Without a declared list only: skips the test when the plugin does not announce the
   * method's interface (Docker would not call it), saying so on a `SKIP:` line so a dropped
   * interface never goes unnoticed. With a declared list, nothing is ever skipped.
   */
  const requireAnnounced = async (ctx: TestContext, method: MethodName) => {
    if (options.implements) return;
    const iface = methods[method].interface;
    if (iface === 'Plugin' || (await interfaces()).includes(iface)) return;
    const why = `the plugin does not announce ${iface} in Plugin.Activate`;
    console.log(`SKIP: ${method}: ${why}`);
    ctx.skip(why);
  };
  /** With a declared list, only methods of the declared interfaces (and Plugin.*) get tests. */
  const declared = (method: MethodName) => {
    const iface = methods[method].interface;
    return !options.implements || iface === 'Plugin' || options.implements.includes(iface);
  };

  describe('plugin protocol conformance', () => {
    test('Plugin.Activate answers an empty body with Implements containing NetworkDriver', async () => {
      expect(activateProblems(await call('Plugin.Activate'), options.implements)).toEqual([]);
    });

    for (const method of methodNames.filter((m) => methods[m].noArguments && declared(m))) {
      test(`${method} accepts an empty body, null and {}`, async (ctx) => {
        await requireAnnounced(ctx, method);
        const problems = [];
        for (const body of [undefined, 'null', '{}']) {
          problems.push(...successProblems(method, await call(method, body)).map((p) => `${p} [body ${body ?? 'empty'}]`));
        }
        expect(problems).toEqual([]);
      });
    }

    test('any Content-Type, or none, is accepted', async () => {
      const problems = [];
      for (const type of ['application/json', 'text/plain', 'application/vnd.docker.plugins.v1.2+json']) {
        problems.push(...successProblems('Plugin.Activate', await call('Plugin.Activate', '{}', { 'Content-Type': type })).map((p) => `${p} [${type}]`));
      }
      expect(problems).toEqual([]);
    });

    test('unparseable JSON gets HTTP 400 with an Err', async () => {
      const problems = [];
      for (const method of ['Plugin.Activate', 'NetworkDriver.CreateNetwork', 'NetworkDriver.Join']) {
        for (const body of unparseableBodies) problems.push(...badBodyProblems(method, await call(method, body), contract).map((p) => `${p} [body ${JSON.stringify(body)}]`));
      }
      expect(problems).toEqual([]);
    });

    for (const method of methodNames.filter((m) => !methods[m].noArguments && declared(m))) {
      test(`${method} refuses wrong or missing fields, naming them`, async (ctx) => {
        await requireAnnounced(ctx, method);
        const problems = [];
        for (const body of wrongTopLevelBodies) {
          problems.push(...badBodyProblems(method, await call(method, body), contract).map((p) => `${p} [body ${body}]`));
        }
        for (const { body, field } of badRequests[method] ?? []) {
          const text = JSON.stringify(body);
          problems.push(...refusalProblems(method, await call(method, text), field, contract).map((p) => `${p} [body ${text.slice(0, 120)}]`));
        }
        expect(problems).toEqual([]);
      });
    }

    test('an unknown method gets HTTP 404', async () => {
      const problems = [];
      for (const method of unknownMethods) problems.push(...notFoundProblems(method, await call(method, '{}'), contract));
      expect(problems).toEqual([]);
    });

    test('an oversized body is refused with 413 or 400, without a crash', async () => {
      const size = options.oversizeBytes ?? 2 * 1024 * 1024;
      const huge = JSON.stringify({ NetworkID: 'c0'.repeat(32), Options: { pad: 'x'.repeat(size) } });
      expect(oversizeProblems('NetworkDriver.CreateNetwork', await call('NetworkDriver.CreateNetwork', huge))).toEqual([]);
    });

    test('after all of that, Plugin.Activate still answers', async () => {
      expect(activateProblems(await call('Plugin.Activate'), options.implements)).toEqual([]);
    });
  });
}
