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
  'NetworkDriver.GetCapabilities': [{ Scope: 'local', ConnectivityScope: 'global' }, { Scope: 'global' }, { Scope: 'local', ConnectivityScope: '', Err: '' }],
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
    // Docker ignores a misspelled field silently; the schema does not.
    ['NetworkDriver.Join', { InterfaceName: { SrcName: 'v', DstPrefix: 'eth' }, Gatway: '10.0.0.1' }, /Gatway/],
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
