import type { NetworkRecord } from '../../src/core/model.js';
import { shortId } from '../../src/core/ids.js';
import { diffStore, findingCount, type Findings } from './crash-diff.js';
import type { CrashLab } from './crash-lab.js';
import { unreachableContainers } from './crash-lab.js';
import { readStoreFiles } from './crash-state.js';

/**
 * A positive control for the campaign's checks, so that "0 leaks" cannot come from a checker
 * that sees nothing: on a clean host it plants one fault of each kind the checks look for (a
 * tsnet-named link, a rule naming a network Docker lacks, a DNAT for no published port, an
 * orphan network record, an orphan address, a stale marker, a container address nobody
 * answers at), asserts that each is reported, then removes what it planted and asserts the
 * host is clean again. Returns one line per fault caught; throws naming any fault missed.
 */
export async function checkTheCheckers(lab: CrashLab, image: string): Promise<string[]> {
  const host = lab.host;
  const caught: string[] = [];
  const missed: string[] = [];
  const expectFound = (what: string, findings: Findings | string[], kind: keyof Findings | 'unreachable', needle: string) => {
    const lines = Array.isArray(findings) ? findings : findings[kind as keyof Findings];
    if (lines.some((l) => l.includes(needle))) caught.push(`${what} (${kind})`);
    else missed.push(`${what}: no ${kind} finding mentions ${needle}`);
  };
  const planted = { link: 'tsnb-00deadbeef', comment: 'tsnet:0123456789ab', port: '18299' };
  await host.docker(['network', 'create', '-d', 'tsnet', '--ipam-driver', 'tsnet', '--subnet', '10.251.0.0/24', 'selftest']);
  try {
    await host.docker(['run', '-d', '--name', 'selftest1', '--network', 'selftest', image, 'sleep', '600']);
    const clean = await lab.waitForConvergence(60_000);
    const id = clean.docker.networks.find((n) => n.name === 'selftest')?.id ?? '';

    await host.exec(['ip', 'link', 'add', planted.link, 'type', 'bridge']);
    await host.exec(['iptables', '-A', 'TSNET-FORWARD', '-m', 'comment', '--comment', planted.comment, '-j', 'RETURN']);
    await host.exec(['iptables', '-t', 'nat', '-A', 'TSNET-PORTS', '-p', 'tcp', '-m', 'tcp', '--dport', planted.port, '-m', 'comment', '--comment', `tsnet:${shortId(id)}`, '-j', 'DNAT', '--to-destination', '10.251.0.99:80']);
    try {
      const { docker, findings } = await lab.snapshot();
      expectFound('a tsnet-named bridge no network owns', findings, 'leakedLinks', planted.link);
      expectFound('a rule naming a network Docker lacks', findings, 'leakedRules', '0123456789ab');
      expectFound('a DNAT for a port nobody publishes', findings, 'leakedRules', `host port ${planted.port}`);

      const store = await readStoreFiles(lab.stateDir);
      const real = store.networks.find((n) => n.id === id);
      if (!real) throw new Error('self-test: the store has no record of the self-test network');
      const ghost: NetworkRecord = { ...real, id: 'f'.repeat(64) };
      const planted2 = diffStore(docker, {
        ...store,
        networks: [...store.networks, ghost],
        addresses: [...store.addresses, { space: 'tsnet-local', pool: '10.251.0.0/24', ip: '10.251.0.77', host: 'selftest', at: new Date(0).toISOString(), kind: 'address' }],
        markers: [...store.markers, { networkId: id, method: 'CreateNetwork', at: new Date(0).toISOString() }],
      }, { markersBefore: new Date() });
      expectFound('a network record Docker lacks', planted2, 'orphanRecords', ghost.id);
      expectFound('an address no Docker network shows', planted2, 'ipamLeaks', '10.251.0.77');
      expectFound('an unanswered marker older than the convergence', planted2, 'staleMarkers', shortId(id));

      const fake = { ...docker, containers: docker.containers.map((c) => (c.name === 'selftest1' ? { ...c, networks: c.networks.map((a) => ({ ...a, ip: '10.251.0.250' })) } : c)) };
      expectFound('a container address nobody answers at', await unreachableContainers(host, fake), 'unreachable', '10.251.0.250');
    } finally {
      await host.exec(['ip', 'link', 'del', planted.link], { allowFail: true });
      await host.exec(['iptables', '-D', 'TSNET-FORWARD', '-m', 'comment', '--comment', planted.comment, '-j', 'RETURN'], { allowFail: true });
      await host.exec(['iptables', '-t', 'nat', '-D', 'TSNET-PORTS', '-p', 'tcp', '-m', 'tcp', '--dport', planted.port, '-m', 'comment', '--comment', `tsnet:${shortId(id)}`, '-j', 'DNAT', '--to-destination', '10.251.0.99:80'], { allowFail: true });
    }
  } finally {
    await host.docker(['rm', '-f', 'selftest1'], { allowFail: true });
    await host.docker(['network', 'rm', 'selftest'], { allowFail: true });
  }
  const after = await lab.waitForConvergence(60_000);
  if (after.docker.networks.some((n) => n.name === 'selftest')) missed.push('the self-test network could not be removed');
  const left = await lab.snapshot();
  if (findingCount(left.findings) > 0) missed.push('the host is not clean after the self-test');
  if (missed.length > 0) throw new Error(`the campaign's checks missed planted faults:\n${missed.join('\n')}`);
  return caught;
}
