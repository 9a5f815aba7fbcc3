import type { PluginReply } from '../client.js';
import {
  brief, CheckFailure, expectThat, asOutcome, refusalText, type Check, type CheckContext,
} from '../registry.js';
import { localSpace, wrap } from './protocol.js';

// IPAM semantics as dockerd relies on them (libnetwork ipams/remote, network.go). Every pool and
// address a check takes is given back by the context's undo stack, whatever the outcome.
// Explicit pools come from 10.197.16.0/20, a range no Docker default uses.

const ALL = ['20.10', '28'] as const;
const bare = (cidr: unknown) => String(cidr).split('/')[0] as string;
const v4 = (ip: string) => ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
/** True when the reply is a refusal in any form (a non-200, or Err/Error on a 200). */
const refused = (reply: PluginReply) => reply.status !== 200 || refusalText('IpamDriver.RequestAddress', reply) !== undefined || refusalText('NetworkDriver.', reply) !== undefined;

interface Pool { readonly id: string; readonly cidr: string }

/** RequestPool that must succeed; its ReleasePool is registered at once. */
async function requestPool(ctx: CheckContext, pool: string, doing = `RequestPool ${pool || '(any)'}`, subPool = ''): Promise<Pool> {
  const reply = await ctx.succeed('IpamDriver.RequestPool', { AddressSpace: await localSpace(ctx), Pool: pool, SubPool: subPool, Options: {}, V6: false }).catch(wrap(doing));
  const id = String(reply.PoolID);
  ctx.onCleanup(`ReleasePool ${id}`, () => ctx.call('IpamDriver.ReleasePool', { PoolID: id }));
  return { id, cidr: String(reply.Pool) };
}

/** RequestAddress that must succeed; its ReleaseAddress is registered at once. Returns the bare IP. */
async function requestAddress(ctx: CheckContext, pool: Pool, address = '', doing = `RequestAddress ${address || '(any)'}`): Promise<string> {
  const reply = await ctx.succeed('IpamDriver.RequestAddress', { PoolID: pool.id, Address: address, Options: null }).catch(wrap(doing));
  const ip = bare(reply.Address);
  ctx.onCleanup(`ReleaseAddress ${ip}`, () => ctx.call('IpamDriver.ReleaseAddress', { PoolID: pool.id, Address: ip }));
  return ip;
}

/** IPAM semantics; each needs the ipam interface. */
export const ipamChecks: readonly Check[] = [
  {
    id: 'ipam.capabilities',
    rationale: 'dockerd decodes IpamDriver.GetCapabilities and GetDefaultAddressSpaces into Go structs (ipams/remote/api) before the first pool; a reply it cannot decode disables the driver',
    needs: ['ipam'], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      await ctx.succeed('IpamDriver.GetCapabilities');
      await localSpace(ctx);
    }),
  },
  {
    id: 'ipam.refusal-in-error',
    rationale: 'libnetwork\'s IPAM client reads a refusal from "Error" in a 200 reply (ipams/remote/api Response.GetError); a 200 with only "Err" is taken as success with no address',
    needs: ['ipam'], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      const reply = await ctx.call('IpamDriver.RequestAddress', { PoolID: `no-such-pool-${ctx.newId().slice(0, 12)}`, Address: '', Options: null });
      if (reply.status === 200) {
        expectThat(refusalText('IpamDriver.RequestAddress', reply) !== undefined,
          `RequestAddress on a pool that does not exist answered 200 without "Error" (dockerd reads this as success): ${brief(reply)}`);
      } else {
        expectThat(reply.status < 500 && refusalText('IpamDriver.RequestAddress', reply) !== undefined,
          `RequestAddress on a pool that does not exist: expected a 200 {"Error"} (or a 4xx {"Err"}), got HTTP ${reply.status} ${brief(reply)}`);
      }
    }),
  },
  {
    id: 'ipam.release-idempotent',
    rationale: 'dockerd releases again after a failed or interrupted release (network.go ipamRelease, endpoint rollback); a second ReleaseAddress or ReleasePool must succeed',
    needs: ['ipam'], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      const pool = await requestPool(ctx, '10.197.16.0/24');
      const ip = await requestAddress(ctx, pool);
      for (let n = 1; n <= 2; n++) await ctx.succeed('IpamDriver.ReleaseAddress', { PoolID: pool.id, Address: ip }).catch(wrap(`ReleaseAddress ${ip}, call ${n}`));
      for (let n = 1; n <= 2; n++) await ctx.succeed('IpamDriver.ReleasePool', { PoolID: pool.id }).catch(wrap(`ReleasePool ${pool.id}, call ${n}`));
    }),
  },
  {
    id: 'ipam.pool-refcount',
    rationale: 'two networks (or a rollback and a retry) may request the identical explicit pool; dockerd releases each once, so the pool must live until the last ReleasePool',
    needs: ['ipam'], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      const first = await requestPool(ctx, '10.197.17.0/24', 'first RequestPool 10.197.17.0/24');
      const second = await requestPool(ctx, '10.197.17.0/24', 'second identical RequestPool 10.197.17.0/24');
      expectThat(first.id === second.id && first.cidr === second.cidr, `identical RequestPool calls gave different pools: ${first.id} (${first.cidr}) and ${second.id} (${second.cidr})`);
      await ctx.succeed('IpamDriver.ReleasePool', { PoolID: first.id }).catch(wrap('the first ReleasePool'));
      await requestAddress(ctx, second, '', 'RequestAddress after one of two ReleasePool (the pool must still exist)');
    }),
  },
  {
    id: 'ipam.overlap-retry',
    rationale: 'when an automatic pool overlaps a host route, dockerd repeats the identical Pool:"" RequestPool while holding the first (libnetwork network.go requestPoolHelper); the same pool again loops forever',
    needs: ['ipam'], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      const first = await requestPool(ctx, '', 'RequestPool Pool:""');
      const seen = [first.cidr];
      for (let attempt = 2; attempt <= 3; attempt++) {
        const next = await requestPool(ctx, '', `RequestPool Pool:"" again (attempt ${attempt}, holding ${seen.join(', ')})`);
        if (!seen.includes(next.cidr)) return;
        seen.push(next.cidr);
      }
      throw new CheckFailure(`3 identical RequestPool Pool:"" calls, each made while holding the previous, all gave ${first.cidr}: dockerd's overlap retry would never end`);
    }),
  },
  {
    id: 'ipam.concurrent-unique',
    rationale: 'dockerd starts containers in parallel and each RequestAddress comes on its own connection; two endpoints with one address break both containers',
    needs: ['ipam'], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      const pool = await requestPool(ctx, '10.197.18.0/24');
      const replies = await Promise.all(Array.from({ length: 24 }, () => ctx.succeed('IpamDriver.RequestAddress', { PoolID: pool.id, Address: '', Options: null }).then(
        (reply) => {
          const ip = bare(reply.Address);
          ctx.onCleanup(`ReleaseAddress ${ip}`, () => ctx.call('IpamDriver.ReleaseAddress', { PoolID: pool.id, Address: ip }));
          return ip;
        },
        wrap('one of 24 concurrent RequestAddress'),
      )));
      const duplicates = replies.filter((ip, n) => replies.indexOf(ip) !== n);
      expectThat(duplicates.length === 0, `24 concurrent RequestAddress on ${pool.cidr} gave duplicates: ${[...new Set(duplicates)].join(', ')}`);
    }),
  },
  {
    id: 'ipam.explicit-in-use',
    rationale: '--ip and --aux-address reach RequestAddress as an explicit Address: it must be exactly that one or a refusal, never a second holder (libnetwork endpoint.go assignAddressVersion)',
    needs: ['ipam'], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      const pool = await requestPool(ctx, '10.197.19.0/24');
      const ip = await requestAddress(ctx, pool, '10.197.19.77');
      expectThat(ip === '10.197.19.77', `RequestAddress 10.197.19.77 gave ${ip}: an explicit address must be exactly that one`);
      const again = await ctx.call('IpamDriver.RequestAddress', { PoolID: pool.id, Address: '10.197.19.77', Options: null });
      // Any refusal counts here, "Err" included: whether it is in "Error" is ipam.refusal-in-error's rule.
      if (!refused(again)) {
        ctx.onCleanup('ReleaseAddress 10.197.19.77 (second holder)', () => ctx.call('IpamDriver.ReleaseAddress', { PoolID: pool.id, Address: '10.197.19.77' }));
        throw new CheckFailure(`a second RequestAddress of 10.197.19.77, which is in use, was granted: ${brief(again)}`);
      }
      expectThat(again.status < 500, `a second RequestAddress of 10.197.19.77 answered HTTP ${again.status}: ${brief(again)}`);
    }),
  },
  {
    id: 'ipam.released-returns',
    rationale: 'after docker rm, the container\'s address (often an --ip the user will give again) must be available: ReleaseAddress really frees it',
    needs: ['ipam'], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      const pool = await requestPool(ctx, '10.197.20.0/24');
      const ip = await requestAddress(ctx, pool, '10.197.20.50');
      await ctx.succeed('IpamDriver.ReleaseAddress', { PoolID: pool.id, Address: ip }).catch(wrap(`ReleaseAddress ${ip}`));
      await requestAddress(ctx, pool, ip, `RequestAddress ${ip} after it was released`);
    }),
  },
  {
    id: 'ipam.subpool-range',
    rationale: '--ip-range reaches RequestPool as SubPool: containers\' automatic addresses must come from it (the rest of the subnet is the user\'s, e.g. for --ip or other hosts)',
    needs: ['ipam'], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      const pool = await requestPool(ctx, '10.197.23.0/24', 'RequestPool 10.197.23.0/24 with SubPool 10.197.23.128/25', '10.197.23.128/25');
      for (let n = 1; n <= 4; n++) {
        const ip = await requestAddress(ctx, pool, '', `automatic RequestAddress ${n}`);
        expectThat(v4(ip) >= v4('10.197.23.128') && v4(ip) <= v4('10.197.23.255'), `automatic RequestAddress ${n} in a pool with SubPool 10.197.23.128/25 gave ${ip}, outside the --ip-range`);
      }
    }),
  },
  {
    id: 'ipam.pool-exhaustion',
    rationale: 'Docker\'s own IPAM never hands out an IPv4 pool\'s network or broadcast address and refuses when the pool is full (ipam/allocator.go); a container on x.x.x.7 of a /29 cannot talk',
    needs: ['ipam'], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      const pool = await requestPool(ctx, '10.197.24.0/29');
      const got: string[] = [];
      for (let n = 1; n <= 6; n++) got.push(await requestAddress(ctx, pool, '', `automatic RequestAddress ${n} of 6 in ${pool.cidr}`));
      const wrong = got.filter((ip) => v4(ip) <= v4('10.197.24.0') || v4(ip) >= v4('10.197.24.7'));
      expectThat(wrong.length === 0, `${pool.cidr} handed out ${wrong.join(', ')}: only 10.197.24.1 to .6 are host addresses`);
      expectThat(new Set(got).size === 6, `6 automatic RequestAddress in ${pool.cidr} gave duplicates: ${got.join(', ')}`);
      const seventh = await ctx.call('IpamDriver.RequestAddress', { PoolID: pool.id, Address: '', Options: null });
      if (!refused(seventh)) {
        const ip = bare(seventh.json?.Address);
        ctx.onCleanup(`ReleaseAddress ${ip}`, () => ctx.call('IpamDriver.ReleaseAddress', { PoolID: pool.id, Address: ip }));
        throw new CheckFailure(`a 7th RequestAddress in the full ${pool.cidr} was granted: ${brief(seventh)}`);
      }
      expectThat(seventh.status < 500, `a 7th RequestAddress in the full ${pool.cidr} answered HTTP ${seventh.status}: ${brief(seventh)}`);
    }),
  },
  {
    id: 'ipam.overlap-refused',
    rationale: 'dockerd leaves overlap to the IPAM (its own refuses: "Pool overlaps with other one on this address space"); two networks with overlapping subnets cannot route to each other',
    needs: ['ipam'], docker: ALL,
    run: (ctx) => asOutcome(async () => {
      await requestPool(ctx, '10.197.25.0/24');
      const reply = await ctx.call('IpamDriver.RequestPool', { AddressSpace: await localSpace(ctx), Pool: '10.197.25.0/25', SubPool: '', Options: {}, V6: false });
      if (!refused(reply)) {
        ctx.onCleanup('ReleasePool 10.197.25.0/25', () => ctx.call('IpamDriver.ReleasePool', { PoolID: reply.json?.PoolID }));
        throw new CheckFailure(`RequestPool 10.197.25.0/25 was granted while 10.197.25.0/24 is held in the same address space: ${brief(reply)}`);
      }
      expectThat(reply.status < 500, `RequestPool 10.197.25.0/25 answered HTTP ${reply.status}: ${brief(reply)}`);
    }),
  },
];
