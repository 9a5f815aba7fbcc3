import { brief, expectThat, asOutcome, skip, type Check, type CheckContext } from '../registry.js';
import { wrap } from './protocol.js';

// NetworkDriver semantics dockerd relies on (libnetwork drivers/remote/driver.go). Networks come
// from 10.197.32.0/20 with AddressSpace LocalDefault, as from Docker's own IPAM; every network
// and endpoint a check makes is deleted by the context's undo stack, whatever the outcome.

const ALL = ['20.10', '28'] as const;

async function createNetwork(ctx: CheckContext, subnet: string): Promise<string> {
  const id = ctx.newId();
  const gateway = subnet.replace(/\.0\/(\d+)$/, '.1/$1');
  await ctx.succeed('NetworkDriver.CreateNetwork', {
    NetworkID: id,
    Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': {} },
    IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: subnet, Gateway: gateway, AuxAddresses: null }],
    IPv6Data: [],
  }).catch(wrap(`CreateNetwork ${subnet}`));
  ctx.onCleanup(`DeleteNetwork ${id}`, () => ctx.call('NetworkDriver.DeleteNetwork', { NetworkID: id }));
  return id;
}

async function createEndpoint(ctx: CheckContext, networkId: string, iface: { Address: string; MacAddress: string }): Promise<{ id: string; reply: Record<string, unknown> }> {
  const id = ctx.newId();
  const reply = await ctx.succeed('NetworkDriver.CreateEndpoint', {
    NetworkID: networkId, EndpointID: id, Interface: { ...iface, AddressIPv6: '' }, Options: {},
  }).catch(wrap(`CreateEndpoint ${iface.Address}`));
  ctx.onCleanup(`DeleteEndpoint ${id}`, () => ctx.call('NetworkDriver.DeleteEndpoint', { NetworkID: networkId, EndpointID: id }));
  return { id, reply };
}

/** NetworkDriver semantics; each needs the network interface. */
export const networkChecks: readonly Check[] = [
  {
    id: 'network.capabilities',
    rationale: 'dockerd decodes NetworkDriver.GetCapabilities (libnetwork drivers/remote/driver.go) and refuses any Scope but "local" or "global"; a 28+ reply may carry GwAllocChecker',
    needs: ['network'], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      await ctx.succeed('NetworkDriver.GetCapabilities');
    }),
  },
  {
    id: 'network.endpoint-no-override',
    rationale: 'CreateEndpoint may fill only the Interface fields dockerd left empty; returning one it gave fails the endpoint ("driver modified interface address", drivers/remote/driver.go CreateEndpoint)',
    needs: ['network'], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      const network = await createNetwork(ctx, '10.197.32.0/24');
      const given = { Address: '10.197.32.5/24', MacAddress: '02:42:0a:c5:20:05' };
      const full = await createEndpoint(ctx, network, given);
      const iface = (full.reply.Interface ?? {}) as Record<string, unknown>;
      for (const field of ['Address', 'MacAddress'] as const) {
        expectThat(!iface[field], `CreateEndpoint with Interface.${field} ${given[field]} returned Interface.${field} ${String(iface[field])}: dockerd fails the endpoint; return only what it left ""`);
      }
      const noMac = await createEndpoint(ctx, network, { Address: '10.197.32.6/24', MacAddress: '' });
      const address = ((noMac.reply.Interface ?? {}) as Record<string, unknown>).Address;
      expectThat(!address, `CreateEndpoint with Interface.Address 10.197.32.6/24 returned Interface.Address ${String(address)}: dockerd fails the endpoint`);
    }),
  },
  {
    id: 'network.delete-idempotent',
    rationale: 'dockerd deletes again after a daemon restart or a failed rollback (libnetwork endpoint.go deleteEndpoint, network.go deleteNetwork); a second DeleteEndpoint or DeleteNetwork must answer {}',
    needs: ['network'], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      const network = await createNetwork(ctx, '10.197.33.0/24');
      const endpoint = await createEndpoint(ctx, network, { Address: '10.197.33.2/24', MacAddress: '' });
      for (let n = 1; n <= 2; n++) await ctx.succeed('NetworkDriver.DeleteEndpoint', { NetworkID: network, EndpointID: endpoint.id }).catch(wrap(`DeleteEndpoint, call ${n}`));
      for (let n = 1; n <= 2; n++) await ctx.succeed('NetworkDriver.DeleteNetwork', { NetworkID: network }).catch(wrap(`DeleteNetwork, call ${n}`));
    }),
  },
  {
    id: 'network.discover-not-404',
    rationale: 'dockerd forwards node discovery (DiscoverNew/DiscoverDelete, drivers/remote/driver.go) and treats an error as the driver\'s failure; a plugin with nothing to do answers {}',
    needs: ['network'], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      const body = { DiscoveryType: 1, DiscoveryData: { Address: '192.0.2.10', BindAddress: '192.0.2.10', Self: false } };
      for (const method of ['NetworkDriver.DiscoverNew', 'NetworkDriver.DiscoverDelete']) {
        const reply = await ctx.call(method, body);
        expectThat(reply.status !== 404, `${method} answered 404: dockerd logs a failed discovery for every node; answer {} when there is nothing to do`);
        expectThat(reply.status < 500, `${method} answered HTTP ${reply.status}: ${brief(reply)}`);
      }
    }),
  },
  {
    id: 'network.join-interface',
    rationale: 'dockerd moves Join\'s SrcName from the host namespace into the sandbox (libnetwork osl AddInterface); it must exist there after Join and not be a bridge port (the host end: moving it cuts the container off), and DeleteEndpoint must remove it or every container leaks a link',
    needs: ['network'], docker: ALL,
    run: async (ctx) => {
      const probe = ctx.linkProbe;
      if (!probe) return skip('pass --netns PATH (the plugin\'s network namespace, e.g. /proc/PID/ns/net, or "self"; needs root for nsenter) to look at Join\'s interface in the kernel');
      return asOutcome(async () => {
        const network = await createNetwork(ctx, '10.197.34.0/24');
        const endpoint = await createEndpoint(ctx, network, { Address: '10.197.34.2/24', MacAddress: '' });
        const ids = { NetworkID: network, EndpointID: endpoint.id };
        const join = await ctx.succeed('NetworkDriver.Join', { ...ids, SandboxKey: `/var/run/docker/netns/${endpoint.id.slice(0, 12)}`, Options: {} }).catch(wrap('Join'));
        ctx.onCleanup('Leave', () => ctx.call('NetworkDriver.Leave', ids));
        const src = String(((join.InterfaceName ?? {}) as Record<string, unknown>).SrcName ?? '');
        expectThat(src !== '', `Join returned no InterfaceName.SrcName: dockerd has no interface to move into the container (${JSON.stringify(join)})`);
        const facts = await probe(src);
        expectThat(facts !== undefined, `Join returned SrcName ${src}, which does not exist in the plugin's namespace: dockerd cannot move it into the sandbox`);
        expectThat(!facts?.master, `Join returned SrcName ${src}, which is a port of ${facts?.master ?? ''}: that is the host end, already in use; dockerd would move it into the container and leave the bridge without it. Return the other end of the pair, with no master`);
        await ctx.succeed('NetworkDriver.Leave', ids).catch(wrap('Leave'));
        await ctx.succeed('NetworkDriver.DeleteEndpoint', ids).catch(wrap('DeleteEndpoint'));
        expectThat((await probe(src)) === undefined, `${src} still exists after Leave and DeleteEndpoint: each container would leak an interface`);
      });
    },
  },
  {
    id: 'network.concurrent-endpoints',
    rationale: 'dockerd starts containers in parallel (docker compose up): CreateEndpoint and Join on one network arrive concurrently, and each Join must give its own interface',
    needs: ['network'], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      const network = await createNetwork(ctx, '10.197.35.0/24');
      const started = await Promise.all(Array.from({ length: 8 }, async (_, n) => {
        const endpoint = await createEndpoint(ctx, network, { Address: `10.197.35.${n + 10}/24`, MacAddress: '' });
        const ids = { NetworkID: network, EndpointID: endpoint.id };
        const join = await ctx.succeed('NetworkDriver.Join', { ...ids, SandboxKey: `/var/run/docker/netns/${endpoint.id.slice(0, 12)}`, Options: {} }).catch(wrap(`Join ${n + 1} of 8`));
        ctx.onCleanup('Leave', () => ctx.call('NetworkDriver.Leave', ids));
        return String(((join.InterfaceName ?? {}) as Record<string, unknown>).SrcName ?? '');
      }));
      const duplicates = started.filter((name, n) => started.indexOf(name) !== n);
      expectThat(duplicates.length === 0, `8 concurrent Joins on one network returned the same SrcName more than once (${[...new Set(duplicates)].join(', ')}): dockerd cannot move one interface into two containers`);
    }),
  },
];
