import { describe, expect, test } from 'vitest';
import { formatZodIssues } from '../../../plugin-spec/format.js';
import { ErrorResponse, IpamErrorResponse, methodNames, methods, refusalSchema, type MethodName } from '../../../plugin-spec/methods.js';

function check(method: MethodName, body: unknown): string {
  const result = methods[method].response.safeParse(body);
  return result.success ? 'ok' : formatZodIssues(result.error);
}

const portmap = [{ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 18080, HostPortEnd: 18080 }];

/** Replies a correct plugin sends (tsnet's own, and what Go plugins on libnetwork's structs send). */
const valid: Record<MethodName, unknown[]> = {
  'Plugin.Activate': [{ Implements: ['NetworkDriver'] }, { Implements: ['NetworkDriver', 'IpamDriver'], Err: '' }],
  'NetworkDriver.GetCapabilities': [
    { Scope: 'local', ConnectivityScope: 'global' }, { Scope: 'global' }, { Scope: 'local', ConnectivityScope: '', Err: '' },
    // Docker 28+ reads GwAllocChecker; older dockerd ignore the key (Go drops unknown keys).
    { Scope: 'local', ConnectivityScope: 'local', GwAllocChecker: true },
  ],
  'NetworkDriver.GwAllocCheck': [{ SkipIPv4: true, SkipIPv6: true }, { SkipIPv4: false, SkipIPv6: false }, {}, { SkipIPv4: true, Err: '' }],
  'NetworkDriver.CreateNetwork': [{}, { Err: '' }],
  'NetworkDriver.DeleteNetwork': [{}],
  'NetworkDriver.AllocateNetwork': [{ Options: {} }, { Options: { 'com.docker.network.driver.overlay.vxlanid_list': '4097' } }, { Options: null }],
  'NetworkDriver.FreeNetwork': [{}],
  'NetworkDriver.CreateEndpoint': [{ Interface: { MacAddress: '02:42:0a:c7:05:02' } }, { Interface: {} }, {}, { Interface: null }, { Interface: { Address: '', AddressIPv6: '', MacAddress: '', IPAliases: null } }],
  'NetworkDriver.EndpointOperInfo': [{ Value: {} }, { Value: { 'com.docker.network.portmap': portmap, 'com.docker.network.endpoint.exposedports': [{ Proto: 17, Port: 81 }], 'com.docker.network.endpoint.macaddress': '02:42:0a:c7:05:02' } }, { Value: null }],
  'NetworkDriver.DeleteEndpoint': [{}],
  'NetworkDriver.Join': [
    { InterfaceName: { SrcName: 'tsnv-0123456789', DstPrefix: 'eth' }, Gateway: '10.199.5.1', StaticRoutes: [], DisableGatewayService: false },
    { InterfaceName: { SrcName: 'veth0', DstName: '', DstPrefix: 'eth' }, Gateway: '', GatewayIPv6: 'fd00::1', StaticRoutes: [{ Destination: '10.1.0.0/16', RouteType: 0, NextHop: '10.199.5.254' }, { Destination: '10.2.0.0/16', RouteType: 1, NextHop: '' }], Err: '' },
    { InterfaceName: { SrcName: 'veth0', DstPrefix: 'eth' }, StaticRoutes: null },
  ],
  'NetworkDriver.Leave': [{}],
  'NetworkDriver.ProgramExternalConnectivity': [{}],
  'NetworkDriver.RevokeExternalConnectivity': [{}],
  'NetworkDriver.DiscoverNew': [{}],
  'NetworkDriver.DiscoverDelete': [{}],
  'IpamDriver.GetCapabilities': [{ RequiresMACAddress: false, RequiresRequestReplay: true }, {}, { RequiresMACAddress: true, Error: '' }],
  'IpamDriver.GetDefaultAddressSpaces': [{ LocalDefaultAddressSpace: 'tsnet-local', GlobalDefaultAddressSpace: 'tsnet-global' }],
  'IpamDriver.RequestPool': [{ PoolID: 'tsnet-local/10.199.5.0/24', Pool: '10.199.5.0/24', Data: {} }, { PoolID: 'p6', Pool: 'fd00:199:6::/64' }, { PoolID: 'x', Pool: '10.0.0.0/8', Data: null, Error: '' }],
  'IpamDriver.ReleasePool': [{}],
  'IpamDriver.RequestAddress': [{ Address: '10.199.5.2/24', Data: {} }, { Address: 'fd00::2/64' }],
  'IpamDriver.ReleaseAddress': [{}],
};

describe('success replies', () => {
  test('every method has representative valid replies', () => {
    expect(Object.keys(valid)).toEqual(methodNames);
  });

  for (const [method, replies] of Object.entries(valid) as Array<[MethodName, unknown[]]>) {
    test.each(replies.map((r) => [JSON.stringify(r).slice(0, 120), r] as const))(`${method} %s`, (_label, reply) => {
      expect(check(method, reply)).toBe('ok');
    });
  }

  test.each([
    ['Plugin.Activate', {}, /^Implements: is required/],
    ['Plugin.Activate', { Implements: [] }, /^Implements: expected at least one interface/],
    ['NetworkDriver.GetCapabilities', { Scope: 'host' }, /^Scope: expected "local" or "global", got "host"$/],
    ['NetworkDriver.GetCapabilities', { Scope: 'local', ConnectivityScope: 'swarm' }, /^ConnectivityScope: expected "local" or "global"/],
    // A non-empty Err is a refusal, never a success.
    ['NetworkDriver.CreateNetwork', { Err: 'no' }, /^Err: /],
    ['NetworkDriver.GwAllocCheck', { SkipIPv4: 'yes' }, /^SkipIPv4: expected true or false, got "yes"$/],
    // A key matched case-insensitively is checked like the field it fills.
    ['NetworkDriver.GwAllocCheck', { skipipv6: 1 }, /^SkipIPv6: expected true or false, got 1$/],
    ['NetworkDriver.Join', { InterfaceName: { SrcName: 'tsnv-0123456789ab', DstPrefix: 'eth' } }, /^InterfaceName\.SrcName: expected an interface name of 1 to 15 characters/],
    ['NetworkDriver.Join', { InterfaceName: { SrcName: '', DstPrefix: 'eth' } }, /^InterfaceName\.SrcName: /],
    ['NetworkDriver.Join', { Gateway: '10.0.0.1/24' }, /^Gateway: expected an IPv4 address such as 10.0.0.1, got "10.0.0.1\/24"$/],
    ['NetworkDriver.Join', { GatewayIPv6: '10.0.0.1' }, /^GatewayIPv6: expected an IPv6 address/],
    ['NetworkDriver.Join', { StaticRoutes: [{ Destination: '10.1.0.0/16', RouteType: 2 }] }, /^StaticRoutes\[0\]\.RouteType: expected route type 0 \(via NextHop\) or 1 \(connected\), got 2$/],
    ['NetworkDriver.CreateEndpoint', { Interface: { MacAddress: '02:42:0a:c7:05' } }, /^Interface\.MacAddress: expected a MAC address/],
    ['NetworkDriver.CreateEndpoint', { Interface: { Address: '10.0.0.2' } }, /^Interface\.Address: expected an IPv4 address in CIDR form such as 10.0.0.2\/24, got "10.0.0.2"$/],
    ['NetworkDriver.EndpointOperInfo', { Value: { 'com.docker.network.portmap': [{ Proto: 6, Port: 99999 }] } }, /^Value\["com.docker.network.portmap"\]\[0\]\.Port: expected a port number/],
    ['NetworkDriver.AllocateNetwork', { Options: { vni: 4097 } }, /^Options\.vni: expected a string option value/],
    ['IpamDriver.GetDefaultAddressSpaces', { LocalDefaultAddressSpace: 'x' }, /^GlobalDefaultAddressSpace: is required/],
    ['IpamDriver.RequestPool', { PoolID: 'p', Pool: '10.0.0.0' }, /^Pool: expected an IPv4 or IPv6 address in CIDR form/],
    ['IpamDriver.RequestAddress', { Address: '10.199.5.2' }, /^Address: expected an IPv4 or IPv6 address in CIDR form such as 10.0.0.1\/24, got "10.199.5.2"$/],
    ['IpamDriver.RequestAddress', { Address: '10.0.0.2/24', Error: 'pool exhausted' }, /^Error: /],
  ] as Array<[MethodName, unknown, RegExp]>)('%s refuses %j', (method, reply, message) => {
    expect(check(method, reply)).toMatch(message);
  });
});

/**
 * dockerd decodes replies with Go's encoding/json into structs: these are exactly the cases
 * where that is looser than a plain JSON object check, each accepted or refused as Docker does.
 */
describe('replies are read as Go reads them', () => {
  test('keys match case-insensitively, also in nested structs; the last of several wins', () => {
    expect(check('NetworkDriver.GetCapabilities', { scope: 'local', CONNECTIVITYSCOPE: 'global', gwallocchecker: true })).toBe('ok');
    expect(methods['NetworkDriver.GetCapabilities'].response.parse({ scope: 'global', Scope: 'local' })).toEqual({ Scope: 'local' });
    expect(methods['NetworkDriver.GetCapabilities'].response.parse({ Scope: 'global', scope: 'local' })).toEqual({ Scope: 'local' });
    expect(check('NetworkDriver.Join', { interfacename: { srcname: 'tsnp-0123456789', dstPREFIX: 'eth' }, gateway: '10.0.0.1', staticroutes: [{ destination: '10.1.0.0/16', routetype: 1 }] })).toBe('ok');
    // Go's folding also maps the Kelvin sign (U+212A) onto k and the long s (U+017F) onto s.
    expect(check('IpamDriver.GetCapabilities', { RequiresMAC\u212aAddress: true, RequiresRequestReplay: false })).toBe('ok');
    expect(methods['IpamDriver.RequestPool'].response.parse({ PoolID: 'p', Pool: '10.0.0.0/8', \u017fubPool: 'x' })).toEqual({ PoolID: 'p', Pool: '10.0.0.0/8' });
    // A folded key is still checked: a wrong value under any spelling is refused.
    expect(check('NetworkDriver.Join', { gateway: '10.0.0.1/24' })).toMatch(/^Gateway: expected an IPv4 address/);
    expect(check('NetworkDriver.Join', { interfacename: { srcname: '', dstprefix: 'eth' } })).toMatch(/^InterfaceName\.SrcName: /);
  });

  test('unknown keys are ignored, as a 20.10 dockerd ignores GwAllocChecker', () => {
    expect(check('NetworkDriver.Join', { InterfaceName: { SrcName: 'v', DstPrefix: 'eth', Extra: 1 }, Gatway: '10.0.0.1' })).toBe('ok');
    expect(check('NetworkDriver.CreateNetwork', { Whatever: [1, 2] })).toBe('ok');
    // Err is not a field of the IPAM reply (it is Error there), so a 200 {Err} is a success to Docker.
    expect(check('IpamDriver.RequestAddress', { Address: '10.0.0.2/24', Err: 'no' })).toBe('ok');
  });

  test('null counts as absent for every field, and a null reply as an all-zero one', () => {
    expect(check('NetworkDriver.Join', { InterfaceName: null, Gateway: null, GatewayIPv6: null, StaticRoutes: null, DisableGatewayService: null, Err: null })).toBe('ok');
    expect(check('NetworkDriver.CreateEndpoint', { Interface: { Address: null, MacAddress: null } })).toBe('ok');
    expect(check('NetworkDriver.CreateNetwork', null)).toBe('ok');
    expect(check('IpamDriver.ReleasePool', null)).toBe('ok');
    // ...which Docker then refuses where a zero value is not enough: "" is no scope, no pool.
    expect(check('NetworkDriver.GetCapabilities', null)).toMatch(/^Scope: is required/);
    expect(check('NetworkDriver.GetCapabilities', { Scope: null })).toMatch(/^Scope: is required/);
    expect(check('IpamDriver.RequestPool', { PoolID: 'p', Pool: null })).toMatch(/^Pool: is required/);
  });

  test('a non-empty Err under any spelling is a refusal, not a success; map keys are not folded', () => {
    expect(check('NetworkDriver.CreateNetwork', { err: 'no such network' })).toMatch(/^Err: /);
    expect(check('IpamDriver.RequestAddress', { Address: '10.0.0.2/24', error: 'pool exhausted' })).toMatch(/^Error: /);
    expect(ErrorResponse.safeParse({ ERR: 'refused' }).success).toBe(true);
    expect(IpamErrorResponse.safeParse({ error: 'refused' }).success).toBe(true);
    // Value is a Go map: only the exact key is the port map Docker looks for.
    expect(check('NetworkDriver.EndpointOperInfo', { Value: { 'com.docker.network.portmap': [{ Proto: 6, Port: 99999 }] } })).toMatch(/Port: expected a port number/);
    expect(check('NetworkDriver.EndpointOperInfo', { Value: { 'Com.Docker.Network.Portmap': [{ Proto: 6, Port: 99999 }] } })).toBe('ok');
  });

  test('values of the wrong type still fail, as they fail Go\'s decoder', () => {
    expect(check('NetworkDriver.GetCapabilities', { Scope: 'local', GwAllocChecker: 'true' })).toMatch(/^GwAllocChecker: expected true or false, got "true"$/);
    expect(check('NetworkDriver.Join', { InterfaceName: 'veth0' })).toMatch(/^InterfaceName: expected \{SrcName, DstPrefix\}, got "veth0"$/);
    expect(check('NetworkDriver.Join', { StaticRoutes: {} })).toMatch(/^StaticRoutes: expected a list of routes/);
    expect(check('NetworkDriver.CreateNetwork', [])).toMatch(/expected a JSON object/);
    expect(check('NetworkDriver.CreateNetwork', 'ok')).toMatch(/expected a JSON object/);
  });
});

describe('refusals', () => {
  test('NetworkDriver and Plugin refusals carry Err; IpamDriver refusals with HTTP 200 carry Error', () => {
    expect(ErrorResponse.safeParse({ Err: 'tsnet has no network 0123' }).success).toBe(true);
    expect(ErrorResponse.safeParse({ Err: '' }).success).toBe(false);
    expect(ErrorResponse.safeParse({}).success).toBe(false);
    expect(IpamErrorResponse.safeParse({ Error: 'pool 10.0.0.0/24 overlaps' }).success).toBe(true);
    // What libnetwork's IPAM client would silently take for success:
    expect(IpamErrorResponse.safeParse({ Err: 'pool 10.0.0.0/24 overlaps' }).success).toBe(false);
    expect(refusalSchema('IpamDriver.RequestPool')).toBe(IpamErrorResponse);
    expect(refusalSchema('NetworkDriver.CreateNetwork')).toBe(ErrorResponse);
    expect(refusalSchema('Plugin.Activate')).toBe(ErrorResponse);
  });
});
