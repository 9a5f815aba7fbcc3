import { readTcp } from '../engine.js';
import { DOCKER_MODE_GREETING, DOCKER_MODE_HOST_PORT, DOCKER_MODE_SUBNET, DOCKER_MODE_SUBNET6, EarlierFailure, type RealDockerSession } from '../real-docker.js';
import { asOutcome, expectThat, fail, pass, skip, type Check, type CheckContext, type Outcome } from '../registry.js';

// The optional real-Docker mode (--docker-host, --image): the plugin driven by a real dockerd
// through its Engine API, as a user would with docker network create / docker run -p. The
// checks share one session (a dual-stack network unless --docker-ipv6 off, two containers); the
// runner removes everything it made after the last check whatever happened, and docker.cleanup
// checks nothing is left in the kernel.

const ALL = ['20.10', '28'] as const;

/** The IPv6 checks' SKIP when the network is IPv4-only. */
const IPV4_ONLY = '--docker-ipv6 off: the network is IPv4-only';

/** The session, or a SKIP saying how to enable the mode. */
function withSession(ctx: CheckContext, body: (session: RealDockerSession) => Promise<Outcome | void>): Promise<Outcome> {
  const session = ctx.realDocker;
  if (!session) return Promise.resolve(skip('needs --docker-host and --image'));
  return asOutcome(() => body(session)).catch((err: unknown) => {
    if (err instanceof EarlierFailure) return skip(err.message);
    throw err;
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const same = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, n) => x === b[n]);

/** The real-Docker checks, last in the registry; each needs the network interface and --docker-host. */
export const dockerChecks: readonly Check[] = [
  {
    id: 'docker.network-create',
    rationale: `docker network create -d PLUGIN --subnet ${DOCKER_MODE_SUBNET} (or --docker-subnet), with --ipv6 --subnet ${DOCKER_MODE_SUBNET6} (or --docker-subnet6) unless --docker-ipv6 off (and --ipam-driver PLUGIN when it announces IpamDriver) through a real dockerd succeeds, and dockerd records the plugin as the network's driver`,
    needs: ['network'], docker: ALL, needsDockerHost: true,
    run: (ctx) => withSession(ctx, async (session) => {
      const { inspect } = await session.network('docker.network-create');
      const driver = session.options.driver;
      expectThat(inspect.Driver === driver, `dockerd created network ${session.networkName} with driver ${String(inspect.Driver)}, not ${driver}`);
      const ipam = (inspect.IPAM ?? {}) as { Driver?: string; Config?: Array<{ Subnet?: string }> };
      const wantIpam = session.ipam ? driver : 'default';
      expectThat(ipam.Driver === wantIpam, `network ${session.networkName} has IPAM driver ${String(ipam.Driver)}, expected ${wantIpam}`);
      expectThat((ipam.Config ?? []).some((c) => c.Subnet === session.subnet), `network ${session.networkName} has IPAM config ${JSON.stringify(ipam.Config)}, not the subnet ${session.subnet} the kit asked for`);
      return pass(`network ${session.networkName}, driver ${driver}, IPAM ${wantIpam}`);
    }),
  },
  {
    id: 'docker.ping',
    rationale: 'two containers started by dockerd on the plugin\'s network reach each other: container 2 pings container 1\'s address (docker run --network NET IMAGE ping -c 1 IP1 exits 0)',
    needs: ['network'], docker: ALL, needsDockerHost: true,
    run: (ctx) => withSession(ctx, async (session) => {
      const { ip } = await session.server('docker.ping');
      const { code, output } = await session.runToExit(['ping', '-c', '1', '-W', '3', ip], 60_000);
      expectThat(code === 0, `ping -c 1 -W 3 ${ip} from container 2 exited ${code}: ${output.split('\n').slice(-3).join(' | ') || '(no output)'}`);
      return pass(`container 2 reached container 1 at ${ip}`);
    }),
  },
  {
    id: 'docker.ipv6',
    rationale: `on the dual-stack network (--ipv6 --subnet ${DOCKER_MODE_SUBNET6}, or --docker-subnet6), dockerd records IPv6 as enabled with that subnet, and container 1 gets an IPv6 address in it (docker inspect's GlobalIPv6Address); a SKIP with --docker-ipv6 off`,
    needs: ['network'], docker: ALL, needsDockerHost: true,
    run: (ctx) => withSession(ctx, async (session) => {
      const six = session.ipv6;
      if (!six) return skip(IPV4_ONLY);
      const { inspect } = await session.network('docker.ipv6');
      expectThat(inspect.EnableIPv6 === true, `dockerd created network ${session.networkName} with EnableIPv6 ${String(inspect.EnableIPv6)}, although the kit asked for --ipv6`);
      const config = ((inspect.IPAM ?? {}) as { Config?: Array<{ Subnet?: string }> }).Config ?? [];
      expectThat(config.some((c) => c.Subnet === six.subnet), `network ${session.networkName} has IPAM config ${JSON.stringify(config)}, not the IPv6 subnet ${six.subnet} the kit asked for`);
      const ip6 = await session.serverIpv6('docker.ipv6');
      return pass(`container 1 got ${ip6} in ${six.subnet}`);
    }),
  },
  {
    id: 'docker.ping6',
    rationale: 'the two containers reach each other over IPv6 too: container 2 pings container 1\'s IPv6 address (ping -6 -c 1 -W 2 IP6 exits 0); a SKIP with --docker-ipv6 off',
    needs: ['network'], docker: ALL, needsDockerHost: true,
    run: (ctx) => withSession(ctx, async (session) => {
      if (!session.ipv6) return skip(IPV4_ONLY);
      const ip6 = await session.serverIpv6('docker.ping6');
      const argv = ['ping', '-6', '-c', '1', '-W', '2', ip6];
      const { code, output } = await session.runToExit(argv, 60_000, session.ping6Name);
      expectThat(code === 0, `${argv.join(' ')} from container 2 exited ${code}: ${output.split('\n').slice(-3).join(' | ') || '(no output)'}`);
      return pass(`container 2 reached container 1 at ${ip6}`);
    }),
  },
  {
    id: 'docker.publish',
    rationale: `a port published by dockerd (docker run -p 127.0.0.1:${DOCKER_MODE_HOST_PORT}:7000, or --docker-port) answers on the host: a TCP connection to that port gets what container 1 sends (IPv4 only: [::1] needs a userland proxy, which a plugin need not run)`,
    needs: ['network'], docker: ALL, needsDockerHost: true,
    run: (ctx) => withSession(ctx, async (session) => {
      await session.server('docker.publish');
      // The container's listener and the port mapping may need a moment after start; a
      // connection that closes without the greeting is tried again, for up to 10 s.
      const deadline = Date.now() + 10_000;
      let last = '';
      for (;;) {
        try {
          const text = await readTcp('127.0.0.1', session.hostPort, 3_000);
          if (text.includes(DOCKER_MODE_GREETING)) return pass(`127.0.0.1:${session.hostPort} answered "${DOCKER_MODE_GREETING}"`);
          last = text.trim() === '' ? 'the connection closed without data' : `got ${JSON.stringify(text.slice(0, 80))}`;
        } catch (err) {
          last = err instanceof Error ? err.message : String(err);
        }
        if (Date.now() > deadline) return fail(`127.0.0.1:${session.hostPort}, published to container 1's port 7000, never answered "${DOCKER_MODE_GREETING}" in 10 s: ${last}`);
        await sleep(250);
      }
    }),
  },
  {
    id: 'docker.cleanup',
    rationale: 'docker rm -f and docker network rm leave nothing behind: the containers and the network are gone from dockerd, and the namespace\'s interfaces are those from before (no veth, no bridge of the plugin\'s)',
    needs: ['network'], docker: ALL, needsDockerHost: true,
    run: (ctx) => withSession(ctx, async (session) => {
      const before = await session.linksBefore();
      const created = await session.bridgesCreated();
      const failed = await session.cleanup();
      expectThat(failed.length === 0, `dockerd could not remove: ${failed.join('; ')}`);
      const left = await session.stillInDockerd();
      expectThat(left.length === 0, `dockerd still has ${left.join(', ')} after removing it`);
      // The plugin's DeleteEndpoint/DeleteNetwork run during the removal, but a dying container
      // namespace is freed by the kernel a little later: wait up to 5 s for the list to settle.
      const deadline = Date.now() + 5_000;
      let now = await session.options.links();
      while (!same(now.all, before.all) && Date.now() < deadline) {
        await sleep(200);
        now = await session.options.links();
      }
      const bridges = created.filter((b) => now.all.includes(b));
      expectThat(bridges.length === 0, `the plugin's bridge${bridges.length > 1 ? 's' : ''} ${bridges.join(', ')} still exist${bridges.length > 1 ? '' : 's'} after its network was removed: delete it in DeleteNetwork`);
      const added = now.all.filter((n) => !before.all.includes(n));
      const gone = before.all.filter((n) => !now.all.includes(n));
      expectThat(added.length === 0, `interfaces left behind after the containers and the network were removed: ${added.join(', ')} (delete what Join/CreateEndpoint made in DeleteEndpoint, and the network's in DeleteNetwork)`);
      expectThat(gone.length === 0, `interfaces that existed before the run are gone: ${gone.join(', ')}`);
      return pass(session.createdAnything() ? `removed; ${now.all.length} interfaces as before${created.length > 0 ? `, bridge ${created.join(', ')} gone` : ''}` : 'nothing was created');
    }),
  },
];
