import { rejectUnknownOptions } from '../../src/core/options.js';
import type { Driver } from '../driver.js';

/**
 * The null type (`-o tsnet.type=null`): endpoints with no interface, for containers that set up
 * their own networking. The container gets only `lo`; Join gives no interface and no gateway and
 * turns Docker's gateway service off, so Docker attaches no docker_gwbridge either. Nothing of
 * the kernel is touched. Addresses Docker's IPAM hands out are kept as bookkeeping only (use
 * `--ipam-driver null` to get none).
 */
export function createNullDriver(): Driver {
  return {
    type: 'null',
    endpointInterface: false,
    gatewayNeeds: () => ({ ipv4: false, ipv6: false }),
    planNetwork(network) {
      rejectUnknownOptions(network.options, [], 'null');
      return {};
    },
    createNetwork: async () => ({}),
    deleteNetwork: async () => undefined,
    createEndpoint: async () => undefined,
    deleteEndpoint: async () => undefined,
    join: async () => ({ dstPrefix: '', staticRoutes: [], disableGatewayService: true }),
    leave: async () => undefined,
    firewallRules: () => [],
    isolationInterfaces: () => [],
    ownedLinks: () => [],
    reconcile: async () => undefined,
  };
}
