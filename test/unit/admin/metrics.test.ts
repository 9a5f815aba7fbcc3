import { describe, expect, test } from 'vitest';
import { TsnetMetrics, type Inventory, type SpaceUsage } from '../../../src/admin/metrics.js';

describe('metrics: Prometheus text of calls, refusals, kernel programs and what the daemon holds', () => {
  test('calls by method and outcome, latency, refusals by code, kernel programs, and gauges read at scrape time', async () => {
    let inventory: Inventory = { networks: [{ type: 'bridge', endpoints: 2, ports: 3 }, { type: 'bridge', endpoints: 1, ports: 0 }, { type: 'macvlan', endpoints: 4, ports: 0 }] };
    const metrics = new TsnetMetrics(() => inventory);
    metrics.call({ method: 'NetworkDriver.CreateNetwork', outcome: 'ok', ms: 3.2 });
    metrics.call({ method: 'NetworkDriver.CreateNetwork', outcome: 'refused', ms: 0.4, code: 'TSNET_SUBNET_OVERLAP' });
    metrics.call({ method: 'NetworkDriver.Join', outcome: 'ok', ms: 1.1 });
    metrics.kernel({ program: 'ip', ms: 1.5, ok: true });
    metrics.kernel({ program: 'iptables-restore', ms: 12, ok: false });
    const text = await metrics.text();
    expect(text).toContain('tsnet_calls_total{method="NetworkDriver.CreateNetwork",outcome="ok"} 1');
    expect(text).toContain('tsnet_calls_total{method="NetworkDriver.CreateNetwork",outcome="refused"} 1');
    expect(text).toContain('tsnet_refusals_total{code="TSNET_SUBNET_OVERLAP"} 1');
    expect(text).toContain('tsnet_call_duration_seconds_count{method="NetworkDriver.CreateNetwork"} 2');
    expect(text).toContain('tsnet_call_duration_seconds_bucket{le="0.005",method="NetworkDriver.CreateNetwork"} 2');
    expect(text).toContain('tsnet_kernel_program_duration_seconds_count{program="ip"} 1');
    expect(text).toContain('tsnet_kernel_program_failures_total{program="iptables-restore"} 1');
    expect(text).toContain('tsnet_networks{type="bridge"} 2');
    expect(text).toContain('tsnet_endpoints{type="macvlan"} 4');
    expect(text).toContain('tsnet_published_ports{type="bridge"} 3');
    expect(text).toContain('tsnet_up 1');
    expect(metrics.contentType).toMatch(/^text\/plain/);

    inventory = { networks: [] };
    const after = await metrics.text();
    expect(after).not.toContain('tsnet_networks{type="bridge"}');
    expect(after).toContain('tsnet_calls_total{method="NetworkDriver.Join",outcome="ok"} 1');
  });

  test('etcd round trips and errors, overlay peers, kernel changes and convergence lag', async () => {
    const metrics = new TsnetMetrics(() => ({ networks: [], overlays: [{ name: 'blue', vteps: 2, endpoints: 5 }] }));
    metrics.etcd({ op: 'transaction', ms: 4, ok: true });
    metrics.etcd({ op: 'transaction', ms: 2000, ok: false });
    metrics.peers({ overlay: 'blue', changes: 3, lagMs: 12 });
    metrics.peers({ overlay: 'blue', changes: 1 });
    const text = await metrics.text();
    expect(text).toContain('tsnet_etcd_requests_total{op="transaction",outcome="ok"} 1');
    expect(text).toContain('tsnet_etcd_requests_total{op="transaction",outcome="error"} 1');
    expect(text).toContain('tsnet_etcd_request_duration_seconds_count{op="transaction"} 2');
    expect(text).toContain('tsnet_overlay_kernel_changes_total{overlay="blue"} 4');
    expect(text).toContain('tsnet_overlay_convergence_seconds_count{overlay="blue"} 1');
    expect(text).toContain('tsnet_overlay_convergence_seconds_bucket{le="0.025",overlay="blue"} 1');
    expect(text).toContain('tsnet_overlay_peers{overlay="blue"} 2');
    expect(text).toContain('tsnet_overlay_remote_endpoints{overlay="blue"} 5');
  });

  test('two daemons in one process keep their own counts', async () => {
    const a = new TsnetMetrics(() => ({ networks: [] }));
    const b = new TsnetMetrics(() => ({ networks: [] }));
    a.call({ method: 'Plugin.Activate', outcome: 'ok', ms: 0.1 });
    expect(await a.text()).toContain('tsnet_calls_total{method="Plugin.Activate",outcome="ok"} 1');
    expect(await b.text()).not.toContain('Plugin.Activate');
  });

  test('IPAM pool usage and capacity per space and pool, read once per scrape; a space that cannot be read is 0 in tsnet_ipam_space_readable', async () => {
    let reads = 0;
    let spaces: SpaceUsage[] = [
      { space: 'tsnet-local', pools: [{ pool: '10.40.0.0/24', allocated: 3, capacity: 254 }, { pool: 'fd00:40::/64', allocated: 1, capacity: 18446744073709552000 }] },
      { space: 'tsnet-global', pools: [{ pool: '10.42.0.0/16', allocated: 17, capacity: 65534 }] },
    ];
    const metrics = new TsnetMetrics(() => ({ networks: [] }), async () => { reads++; return spaces; });
    const text = await metrics.text();
    expect(reads).toBe(1);
    expect(text).toContain('tsnet_ipam_pool_addresses_allocated{space="tsnet-local",pool="10.40.0.0/24"} 3');
    expect(text).toContain('tsnet_ipam_pool_addresses_capacity{space="tsnet-local",pool="10.40.0.0/24"} 254');
    expect(text).toContain('tsnet_ipam_pool_addresses_capacity{space="tsnet-local",pool="fd00:40::/64"} 18446744073709552000');
    expect(text).toContain('tsnet_ipam_pool_addresses_allocated{space="tsnet-global",pool="10.42.0.0/16"} 17');
    expect(text).toContain('tsnet_ipam_space_readable{space="tsnet-global"} 1');

    spaces = [{ space: 'tsnet-local', pools: [] }, { space: 'tsnet-global', pools: [], error: 'etcd did not answer' }];
    const after = await metrics.text();
    expect(reads).toBe(2);
    expect(after).not.toContain('pool="10.40.0.0/24"');
    expect(after).toContain('tsnet_ipam_space_readable{space="tsnet-local"} 1');
    expect(after).toContain('tsnet_ipam_space_readable{space="tsnet-global"} 0');
  });

  test('reconciliation actions by source and action, counted with their multiplicity', async () => {
    const metrics = new TsnetMetrics(() => ({ networks: [] }));
    expect(await metrics.text()).toContain('# TYPE tsnet_reconcile_actions_total counter');
    metrics.reconciled({ source: 'reconcile', action: 'removed-leftover-link' });
    metrics.reconciled({ source: 'reconcile', action: 'removed-leftover-link' });
    metrics.reconciled({ source: 'docker-sync', action: 'removed-orphan-endpoint' });
    metrics.reconciled({ source: 'ipam-sync', action: 'released-pool-reference', count: 3 });
    const text = await metrics.text();
    expect(text).toContain('tsnet_reconcile_actions_total{source="reconcile",action="removed-leftover-link"} 2');
    expect(text).toContain('tsnet_reconcile_actions_total{source="docker-sync",action="removed-orphan-endpoint"} 1');
    expect(text).toContain('tsnet_reconcile_actions_total{source="ipam-sync",action="released-pool-reference"} 3');
  });

  test('resolver answers by outcome', async () => {
    const metrics = new TsnetMetrics(() => ({ networks: [] }));
    metrics.dns('answered');
    metrics.dns('answered');
    metrics.dns('refused');
    const text = await metrics.text();
    expect(text).toContain('tsnet_dns_queries_total{outcome="answered"} 2');
    expect(text).toContain('tsnet_dns_queries_total{outcome="refused"} 1');
  });
});
