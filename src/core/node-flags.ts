/**
 * The V8 flags every launcher of the daemon passes to node (deploy/tsnet.service, the managed
 * plugin's entrypoint, deploy/lab/lab.sh, the test harness). The daemon's heap is small and
 * allocates little (20–35 MiB, at 1,000 endpoints too: mostly its own and its libraries'
 * code), but V8 sizes the young generation for throughput, up to three 16 MiB semi-spaces.
 * With 1 MiB semi-spaces, measured side by side: idle RSS 76 MiB instead of 85, after 3,500
 * IPAM request/release pairs 90–92 MiB instead of 118–122, at the same call latency (p50 1.53
 * ms against 1.54). After a long load (1,000 containers started) the old generation has grown
 * and the two are within a few MiB of each other.
 *
 * --optimize-for-size: V8 then sizes and compacts the whole heap for memory rather than speed
 * (it shrinks what it keeps in reserve after each collection). Measured side by side on an idle
 * daemon after 9,000 calls: anonymous memory 33 MiB instead of 45, total RSS 76 MiB instead of
 * 88, at the same call latency (GetCapabilities round trip p50 0.13 ms against 0.12).
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--optimize-for-size'];

/**
 * The environment every launcher gives the daemon. glibc's malloc keeps up to eight arenas per
 * core, one per thread that allocates (libuv's workers, V8's helpers), each holding on to what it
 * freed; two are plenty for a daemon whose work is on one thread. Measured with the flags above:
 * anonymous memory 28 MiB instead of 33 (RSS 71 MiB), no change in latency.
 *
 * MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_: what node mallocs for a while and frees
 * (file contents read at start-up, socket read buffers of 64 KiB) otherwise lands in glibc's
 * main heap, which gives memory back only from its top, so a few live blocks above keep the
 * freed pages resident. Blocks of 16 KiB or more are then mapped on their own and unmapped when
 * freed, and the heap is trimmed when 64 KiB at its top are free. Measured side by side,
 * interleaved (mem/variants in the stop 25 note): idle 66–67 MiB instead of 72–75, after 6,000
 * calls 75–76 instead of 81–83, same call latency (RequestAddress p50 0.79 ms against 0.76); at
 * 1,000 endpoints over 3 hosts (bench:overlay scale) 86–89 MiB right after instead of 91–95.
 */
export const DAEMON_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '16384', MALLOC_TRIM_THRESHOLD_: '65536' };

/**
 * The flags of {@link DAEMON_NODE_FLAGS} that this process was started without, and the
 * settings of {@link DAEMON_ENV} (as NAME=VALUE) its environment lacks.
 */
export function missingNodeFlags(execArgv: readonly string[], nodeOptions = '', env: Readonly<Record<string, string | undefined>> = DAEMON_ENV): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)]);
  const missingEnv = Object.entries(DAEMON_ENV).filter(([name, value]) => env[name] !== value).map(([name, value]) => `${name}=${value}`);
  return [...DAEMON_NODE_FLAGS.filter((flag) => !given.has(flag)), ...missingEnv];
}
