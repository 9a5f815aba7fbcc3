/**
 * The V8 flags every launcher of the daemon passes to node (deploy/tsnet.service, the managed
 * plugin's entrypoint, deploy/lab/lab.sh, the test harness). The daemon's heap is small and
 * allocates little (20–35 MiB used at 1,000 endpoints: mostly its own and its libraries'
 * code), but V8 sizes the young generation for throughput, up to three 16 MiB semi-spaces, and
 * under a burst of calls that was a quarter of the resident memory. With 1 MiB semi-spaces,
 * measured side by side: RSS after 3,500 IPAM request/release pairs 90–92 MiB instead of
 * 118–122, and the same call latency (p50 1.53 ms against 1.54).
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];

/** The flags of {@link DAEMON_NODE_FLAGS} that this process was started without. */
export function missingNodeFlags(execArgv: readonly string[], nodeOptions = ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)]);
  return DAEMON_NODE_FLAGS.filter((flag) => !given.has(flag));
}
