/**
 * The V8 flags every launcher of the daemon passes to node (deploy/tsnet.service, the managed
 * plugin's entrypoint, deploy/lab/lab.sh, the test harness). The daemon's heap is small and
 * allocates little (20–35 MiB, at 1,000 endpoints too: mostly its own and its libraries'
 * code), but V8 sizes the young generation for throughput, up to three 16 MiB semi-spaces.
 * With 1 MiB semi-spaces, measured side by side: idle RSS 76 MiB instead of 85, after 3,500
 * IPAM request/release pairs 90–92 MiB instead of 118–122, at the same call latency (p50 1.53
 * ms against 1.54). After a long load (1,000 containers started) the old generation has grown
 * and the two are within a few MiB of each other.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** The flags of {@link DAEMON_NODE_FLAGS} that this process was started without. */
export function missingNodeFlags(execArgv: readonly string[], nodeOptions = ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)]);
  return DAEMON_NODE_FLAGS.filter((flag) => !given.has(flag));
}
