import { describe, expect, test } from 'vitest';
import { badRequests } from '../../../plugin-spec/conformance/cases.js';
import { activateProblems, badBodyProblems, notFoundProblems, oversizeProblems, refusalProblems, successProblems } from '../../support/protocol-contract-checks.js';
import type { PluginReply } from '../../../plugin-spec/conformance/client.js';
import { formatZodIssues } from '../../../plugin-spec/format.js';
import { methodNames, methods, type MethodName } from '../../../plugin-spec/methods.js';

const reply = (status: number, json?: Record<string, unknown>): PluginReply => ({ status, json, text: json === undefined ? '' : JSON.stringify(json) });

describe('the suite\'s bad requests', () => {
  test('cover every method with arguments', () => {
    expect(Object.keys(badRequests).sort()).toEqual(methodNames.filter((m) => !methods[m].noArguments).sort());
  });

  test('are each refused by the schemas with a message that names their field', () => {
    for (const [method, cases] of Object.entries(badRequests) as Array<[MethodName, NonNullable<(typeof badRequests)[MethodName]>]>) {
      for (const { body, field } of cases) {
        const result = methods[method].request.safeParse(body);
        expect(result.success, `${method} ${JSON.stringify(body).slice(0, 80)}`).toBe(false);
        if (!result.success) expect(formatZodIssues(result.error), method).toContain(`${field}: `);
      }
    }
  });
});

describe('the checks catch a broken plugin', () => {
  const M = 'NetworkDriver.CreateEndpoint';
  const F = 'Interface.Address';
  const good = reply(400, { Err: `${M}: ${F}: expected an IPv4 address in CIDR form such as 10.0.0.2/24, got "10.0.0.2"` });

  test('tsnet contract: 400, "<Method>: " prefix, the field named', () => {
    expect(refusalProblems(M, good, F, 'tsnet')).toEqual([]);
    expect(refusalProblems(M, reply(200, {}), F, 'tsnet')).toEqual([expect.stringMatching(/expected HTTP 400 with \{"Err"\}, got HTTP 200/)]);
    expect(refusalProblems(M, reply(200, { Err: `${M}: ${F}: bad` }), F, 'tsnet')).toHaveLength(1);
    expect(refusalProblems(M, reply(400, { Err: `${F}: bad` }), F, 'tsnet')).toEqual([expect.stringMatching(/should start with/)]);
    expect(refusalProblems(M, reply(400, { Err: `${M}: something is wrong` }), F, 'tsnet')).toEqual([expect.stringMatching(/should name Interface.Address/)]);
    expect(refusalProblems(M, reply(500, { Err: 'internal error' }), F, 'tsnet')).toHaveLength(1);
  });

  test('docker contract: any 4xx with Err, or a 200 refusal, naming the field', () => {
    expect(refusalProblems(M, reply(422, { Err: 'Address is not CIDR' }), F, 'docker')).toEqual([]);
    expect(refusalProblems(M, reply(200, { Err: 'Address is not CIDR' }), F, 'docker')).toEqual([]);
    expect(refusalProblems(M, reply(400, {}), F, 'docker')).toEqual([expect.stringMatching(/needs \{"Err"\}/)]);
    expect(refusalProblems(M, reply(200, {}), F, 'docker')).toEqual([expect.stringMatching(/bad input was not refused/)]);
    expect(refusalProblems(M, reply(200, { Err: 'invalid request' }), F, 'docker')).toEqual([expect.stringMatching(/should name Interface.Address/)]);
    // Go fills Err from "err" too, so Docker shows this refusal; the check reads it the same way.
    expect(refusalProblems(M, reply(200, { err: 'Address is not CIDR' }), F, 'docker')).toEqual([]);
    expect(refusalProblems(M, reply(200, { err: 'invalid request' }), F, 'docker')).toEqual([expect.stringMatching(/should name Interface.Address, got "invalid request"/)]);
  });

  test('an IPAM refusal with HTTP 200 must use Error: Docker takes a 200 {"Err"} for success', () => {
    const P = 'IpamDriver.RequestPool';
    expect(refusalProblems(P, reply(200, { Error: 'Pool: bad' }), 'Pool', 'docker')).toEqual([]);
    expect(refusalProblems(P, reply(200, { Err: 'Pool: bad' }), 'Pool', 'docker')).toEqual([expect.stringMatching(/Docker reads IpamDriver refusals from "Error"/)]);
  });

  test('bad JSON, unknown methods, oversized bodies', () => {
    expect(badBodyProblems(M, reply(400, { Err: 'not JSON' }), 'tsnet')).toEqual([]);
    expect(badBodyProblems(M, reply(413, { Err: 'not JSON' }), 'tsnet')).toHaveLength(1);
    expect(badBodyProblems(M, reply(413, { Err: 'not JSON' }), 'docker')).toEqual([]);
    expect(badBodyProblems(M, reply(400), 'docker')).toHaveLength(1);
    expect(notFoundProblems('X.Y', reply(404, { Err: 'tsnet does not implement X.Y' }), 'tsnet')).toEqual([]);
    expect(notFoundProblems('X.Y', reply(404, { Err: 'not found' }), 'tsnet')).toHaveLength(1);
    expect(notFoundProblems('X.Y', reply(404), 'docker')).toEqual([]);
    expect(notFoundProblems('X.Y', reply(405, { Err: 'no' }), 'docker')).toHaveLength(1);
    expect(oversizeProblems(M, reply(413, { Err: 'too large' }))).toEqual([]);
    expect(oversizeProblems(M, reply(200, {}))).toHaveLength(1);
    expect(oversizeProblems(M, reply(413))).toHaveLength(1);
  });

  test('success replies and the handshake', () => {
    expect(successProblems('NetworkDriver.GetCapabilities', reply(200, { Scope: 'local' }))).toEqual([]);
    expect(successProblems('NetworkDriver.GetCapabilities', reply(200, { Scope: 'swarm' }))).toEqual([expect.stringMatching(/Scope: expected "local" or "global", got "swarm"/)]);
    // What a 28+ plugin announces, and a 20.10 dockerd ignores (Go drops unknown keys).
    expect(successProblems('NetworkDriver.GetCapabilities', reply(200, { Scope: 'local', GwAllocChecker: true }))).toEqual([]);
    expect(successProblems('NetworkDriver.Join', reply(200, { InterfaceName: { SrcName: 'veth0', DstPrefix: 'eth' }, gateway: '10.0.0.1/24' }))).toEqual([expect.stringMatching(/Gateway: expected an IPv4 address/)]);
    expect(activateProblems(reply(200, { Implements: ['NetworkDriver'] }))).toEqual([]);
    expect(activateProblems(reply(200, { Implements: ['IpamDriver'] }))).toEqual([expect.stringMatching(/should contain "NetworkDriver"/)]);
    expect(activateProblems(reply(200, { Implements: ['NetworkDriver'] }), ['NetworkDriver', 'IpamDriver'])).toEqual([expect.stringMatching(/should be \["NetworkDriver","IpamDriver"\]/)]);
    expect(activateProblems(reply(503, { Err: 'starting' }))).toHaveLength(1);
  });
});
