import type { EndpointRecord, NetworkRecord } from '../../src/core/model.js';
import type { JoinInfo } from '../driver.js';
import { gatewayFor } from '../gateway.js';
import { vethNames } from '../veth.js';
import type { BridgeConfig } from './options.js';

/**
 * Join's answer: the container end goes into the sandbox as ethN, and the gateway is the bridge
 * address of the pool holding the endpoint's address. Internal networks get no gateway and ask
 * Docker not to add docker_gwbridge, so they have no way out.
 */
export function bridgeJoinInfo(network: NetworkRecord, config: BridgeConfig, endpoint: EndpointRecord): JoinInfo {
  const { peerIf } = vethNames(endpoint.id);
  const gateway = network.internal ? undefined : gatewayFor(network.ipv4, endpoint.address);
  const gatewayV6 = network.internal ? undefined : gatewayFor(network.ipv6, endpoint.addressV6);
  return { srcName: peerIf, dstPrefix: config.ifacePrefix, gateway, gatewayV6, staticRoutes: [], disableGatewayService: network.internal };
}
