import { z } from 'zod';
import { rejectUnknownOptions } from '../../src/core/options.js';
import { declaredDriver } from '../declared.js';
import type { Driver, DriverDeps } from '../driver.js';
import { stateCodec } from '../state.js';

/**
 * The null type (`-o tsnet.type=null`): endpoints with no interface, for containers that set up
 * their own networking. The container gets only `lo`; Join gives no interface and no gateway and
 * turns Docker's gateway service off, so Docker attaches no docker_gwbridge either. Nothing of
 * the kernel is touched. Addresses Docker's IPAM hands out are kept as bookkeeping only (use
 * `--ipam-driver null` to get none).
 */
export function createNullDriver(deps: DriverDeps): Driver {
  return declaredDriver({
    type: 'null',
    state: stateCodec('null', z.object({})),
    endpointInterface: false,
    gatewayNeeds: () => ({ ipv4: false, ipv6: false }),
    plan(network) {
      rejectUnknownOptions(network.options, [], 'null');
      return {};
    },
    network: () => ({ ops: [] }),
    endpoint: () => ({ ops: [] }),
    join: () => ({ dstPrefix: '', staticRoutes: [], disableGatewayService: true }),
  }, deps);
}
