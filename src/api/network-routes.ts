import { methods } from '../../plugin-spec/methods.js';
import type { JoinInfo } from '../../drivers/driver.js';
import type { ExposedPort, IpPool, PortBinding } from '../core/model.js';
import { protocolName, protocolNumber } from '../core/model.js';
import type { NetworkService } from '../cnm/service.js';
import type { MethodRegistrar } from './app.js';
import { tsnetError } from '../core/errors.js';

const PORTMAP = 'com.docker.network.portmap';
/**
 * Set by dockerd 29 when this endpoint is the container's IPv4 gateway while another endpoint is
 * its IPv6 gateway (moby's remote driver, ProgramExternalConnectivity): publish IPv4 only.
 */
const NO_PROXY_6TO4 = 'com.docker.network.driver.private.no_proxy_6to4';
const EXPOSED = 'com.docker.network.endpoint.exposedports';
const GENERIC = 'com.docker.network.generic';
const MAC_OPTION = 'com.docker.network.endpoint.macaddress';

export interface NetworkRoutesDeps {
  /** The service; routes run only after start-up is complete, when it exists. */
  readonly service: () => NetworkService;
  readonly scope: { readonly scope: 'local' | 'global'; readonly connectivityScope: 'local' | 'global' };
}

/**
 * The NetworkDriver half of the protocol: each route translates Docker's wire shape (validated
 * by its plugin-spec schema) into a domain call and back. No logic lives here.
 */
export function registerNetworkRoutes(define: MethodRegistrar, deps: NetworkRoutesDeps): void {
  const { scope } = deps;
  const service = () => deps.service();
  // GwAllocChecker: Docker 28+ then sends GwAllocCheck before each CreateNetwork; older
  // dockerd decode the reply into a struct without that field and ignore it.
  define('NetworkDriver.GetCapabilities', methods['NetworkDriver.GetCapabilities'].request, () => ({ Scope: scope.scope, ConnectivityScope: scope.connectivityScope, GwAllocChecker: true }));

  define('NetworkDriver.GwAllocCheck', methods['NetworkDriver.GwAllocCheck'].request, (req) => {
    const needs = service().gatewayNeeds(genericOptions(req.Options?.[GENERIC]), req.Options?.['com.docker.network.internal'] === true);
    return { SkipIPv4: !needs.ipv4, SkipIPv6: !needs.ipv6 };
  });

  define('NetworkDriver.CreateNetwork', methods['NetworkDriver.CreateNetwork'].request, async (req, call) => {
    const options = req.Options ?? {};
    await service().createNetwork({
      id: req.NetworkID,
      ipv4: (req.IPv4Data ?? []).map(toPool),
      ipv6: (req.IPv6Data ?? []).map(toPool),
      internal: options['com.docker.network.internal'] === true,
      enableIpv6: options['com.docker.network.enable_ipv6'] === true,
      options: genericOptions(options[GENERIC]),
    }, call.reply);
    return {};
  });

  define('NetworkDriver.DeleteNetwork', methods['NetworkDriver.DeleteNetwork'].request, async (req) => {
    await service().deleteNetwork(req.NetworkID);
    return {};
  });

  // Swarm-manager-side calls: tsnet keeps no cluster-wide state through them. What AllocateNetwork
  // answers is all a swarm worker's CreateNetwork gets of the network's options (swarmkit stores
  // the answer as the network's driver state), so the user's options go back unchanged.
  define('NetworkDriver.AllocateNetwork', methods['NetworkDriver.AllocateNetwork'].request, (req) => ({ Options: req.Options ?? {} }));
  define('NetworkDriver.FreeNetwork', methods['NetworkDriver.FreeNetwork'].request, () => ({}));

  define('NetworkDriver.CreateEndpoint', methods['NetworkDriver.CreateEndpoint'].request, async (req, call) => {
    const result = await service().createEndpoint({
      networkId: req.NetworkID,
      endpointId: req.EndpointID,
      address: req.Interface?.Address || undefined,
      addressV6: req.Interface?.AddressIPv6 || undefined,
      mac: endpointMac(req.Interface?.MacAddress, req.Options?.[MAC_OPTION]),
      exposedPorts: exposedPorts(req.Options?.[EXPOSED]),
    }, call.reply);
    // Only fields Docker left empty may be returned, or Docker rolls the endpoint back.
    return { Interface: result.macAddress ? { MacAddress: result.macAddress } : {} };
  });

  define('NetworkDriver.EndpointOperInfo', methods['NetworkDriver.EndpointOperInfo'].request, (req) => {
    const endpoint = service().endpointInfo(req.NetworkID, req.EndpointID);
    return {
      Value: {
        [PORTMAP]: endpoint.ports.map((p) => ({ Proto: protocolNumber(p.proto), IP: '', Port: p.port, HostIP: p.hostIp, HostPort: p.hostPort, HostPortEnd: p.hostPortEnd })),
        [EXPOSED]: endpoint.exposedPorts.map((p) => ({ Proto: protocolNumber(p.proto), Port: p.port })),
        'com.docker.network.endpoint.macaddress': endpoint.mac,
      },
    };
  });

  define('NetworkDriver.DeleteEndpoint', methods['NetworkDriver.DeleteEndpoint'].request, async (req) => {
    await service().deleteEndpoint(req.NetworkID, req.EndpointID);
    return {};
  });

  define('NetworkDriver.Join', methods['NetworkDriver.Join'].request, async (req, call) => toJoinResponse(await service().join(req.NetworkID, req.EndpointID, req.SandboxKey, call.reply)));

  define('NetworkDriver.Leave', methods['NetworkDriver.Leave'].request, async (req) => {
    await service().leave(req.NetworkID, req.EndpointID);
    return {};
  });

  define('NetworkDriver.ProgramExternalConnectivity', methods['NetworkDriver.ProgramExternalConnectivity'].request, async (req, call) => {
    const families = req.Options?.[NO_PROXY_6TO4] === true ? 'ipv4' : 'all';
    await service().programExternalConnectivity(req.NetworkID, req.EndpointID, portBindings(req.Options?.[PORTMAP]), call.reply, families);
    return {};
  });

  define('NetworkDriver.RevokeExternalConnectivity', methods['NetworkDriver.RevokeExternalConnectivity'].request, async (req) => {
    await service().revokeExternalConnectivity(req.NetworkID, req.EndpointID);
    return {};
  });

  // Node discovery matters to cluster-aware drivers only; Docker requires a success answer
  // (a 404 is not accepted for these two), so tsnet acknowledges and ignores them.
  define('NetworkDriver.DiscoverNew', methods['NetworkDriver.DiscoverNew'].request, () => ({}));
  define('NetworkDriver.DiscoverDelete', methods['NetworkDriver.DiscoverDelete'].request, () => ({}));
}

function toPool(data: { AddressSpace?: string; Pool: string; Gateway?: string; AuxAddresses?: Record<string, string> | null }): IpPool {
  return { addressSpace: data.AddressSpace ?? '', pool: data.Pool, gateway: data.Gateway || undefined, auxAddresses: data.AuxAddresses ?? {} };
}

/**
 * `docker network create -o key=value` options. Docker's API types them map[string]string, so
 * anything else came from another client and is refused by name rather than turned into text.
 */
function genericOptions(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  const result: Record<string, string> = {};
  for (const [key, raw] of Object.entries(value as Record<string, unknown>)) {
    if (typeof raw !== 'string') {
      const kind = raw === null ? 'null' : Array.isArray(raw) ? 'list' : typeof raw;
      throw tsnetError('TSNET_OPT_INVALID', `network option ${JSON.stringify(key)} has a ${kind} value; option values are strings`, `pass it as -o ${key}=VALUE`);
    }
    result[key] = raw;
  }
  return result;
}

/**
 * `--mac-address` reaches CreateEndpoint twice: in Interface.MacAddress and, base64-encoded, in
 * the endpoint options. Docker makes them agree; a request where they differ is refused rather
 * than one of them silently ignored.
 */
function endpointMac(fromInterface: string | undefined, fromOption: string | undefined): string | undefined {
  const option = fromOption ? [...Buffer.from(fromOption, 'base64')].map((b) => b.toString(16).padStart(2, '0')).join(':') : undefined;
  const iface = fromInterface ? fromInterface.toLowerCase() : undefined;
  if (iface && option && iface !== option) {
    throw tsnetError('TSNET_MAC_INVALID', `Interface.MacAddress ${iface} and option ${MAC_OPTION} (${option}) disagree`, 'give one MAC address (--mac-address)');
  }
  return iface ?? option;
}

function portBindings(list: ReadonlyArray<{ Proto: number; Port: number; HostIP?: string; HostPort?: number; HostPortEnd?: number }> | null | undefined): PortBinding[] {
  return (list ?? []).map((p) => ({
    proto: protocolName(p.Proto) ?? 'tcp',
    port: p.Port,
    hostIp: p.HostIP ?? '',
    hostPort: p.HostPort ?? 0,
    hostPortEnd: p.HostPortEnd ?? 0,
  }));
}

function exposedPorts(list: ReadonlyArray<{ Proto: number; Port: number }> | null | undefined): ExposedPort[] {
  return (list ?? []).map((p) => ({ proto: protocolName(p.Proto) ?? 'tcp', port: p.Port }));
}

function toJoinResponse(info: JoinInfo): Record<string, unknown> {
  return {
    ...(info.srcName ? { InterfaceName: { SrcName: info.srcName, DstPrefix: info.dstPrefix } } : {}),
    ...(info.gateway ? { Gateway: info.gateway } : {}),
    ...(info.gatewayV6 ? { GatewayIPv6: info.gatewayV6 } : {}),
    StaticRoutes: info.staticRoutes.map((r) => ({ Destination: r.destination, RouteType: r.routeType, ...(r.nextHop ? { NextHop: r.nextHop } : {}) })),
    DisableGatewayService: info.disableGatewayService,
  };
}
