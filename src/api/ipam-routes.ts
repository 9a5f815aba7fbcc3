import { methods } from '../../plugin-spec/methods.js';
import type { IpamService } from '../ipam/ipam-service.js';
import type { MethodRegistrar } from './app.js';

/** The IpamDriver half of the protocol: wire shapes in, IpamService calls, wire shapes out. */
export function registerIpamRoutes(define: MethodRegistrar, ipam: () => IpamService): void {
  define('IpamDriver.GetCapabilities', methods['IpamDriver.GetCapabilities'].request, () => {
    const caps = ipam().capabilities();
    return { RequiresMACAddress: caps.requiresMacAddress, RequiresRequestReplay: caps.requiresRequestReplay };
  });

  define('IpamDriver.GetDefaultAddressSpaces', methods['IpamDriver.GetDefaultAddressSpaces'].request, () => {
    const spaces = ipam().defaultAddressSpaces();
    return { LocalDefaultAddressSpace: spaces.local, GlobalDefaultAddressSpace: spaces.global };
  });

  define('IpamDriver.RequestPool', methods['IpamDriver.RequestPool'].request, async (req) => {
    const result = await ipam().requestPool({
      addressSpace: req.AddressSpace,
      pool: req.Pool || undefined,
      subPool: req.SubPool || undefined,
      options: stringOptions(req.Options),
      v6: req.V6 === true,
    });
    return { PoolID: result.poolId, Pool: result.pool, Data: {} };
  });

  define('IpamDriver.ReleasePool', methods['IpamDriver.ReleasePool'].request, async (req) => {
    await ipam().releasePool(req.PoolID);
    return {};
  });

  define('IpamDriver.RequestAddress', methods['IpamDriver.RequestAddress'].request, async (req, call) => {
    const address = await ipam().requestAddress(req.PoolID, req.Address || undefined, req.Options ?? {}, call.reply);
    return { Address: address, Data: {} };
  });

  define('IpamDriver.ReleaseAddress', methods['IpamDriver.ReleaseAddress'].request, async (req) => {
    await ipam().releaseAddress(req.PoolID, req.Address);
    return {};
  });
}

function stringOptions(options: Readonly<Record<string, unknown>> | null | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(options ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
}
