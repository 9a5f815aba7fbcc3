import type { DoctorContext, DoctorFacts, DoctorNetwork, DoctorOptions } from '../../../src/doctor/check.js';
import type { DoctorProbe, IptablesState, SocketState } from '../../../src/doctor/probe.js';

/** A host where every check passes; each test breaks one answer. */
export function healthyProbe(overrides: Partial<DoctorProbe> = {}): DoctorProbe {
  return {
    kernelFeature: async () => ({ present: true, evidence: 'module loaded', loadable: true }),
    sysctl: async () => '1',
    iptables: async () => healthyIptables(),
    firewallManagers: async () => ({ firewalld: false, ufw: false }),
    docker: async () => ({ reachable: true, version: '28.5.2', apiVersion: '1.51', networks: [] }),
    pluginSocket: async () => healthySocket(),
    pluginSpecFiles: async () => [],
    directory: async () => ({ exists: true, isDirectory: true, writable: true, freeBytes: 10 * 1024 ** 3 }),
    etcdEndpoint: async (endpoint) => ({ ok: true, endpoint, version: '3.4.23', rttMs: 2, skewMs: 300 }),
    etcdRead: async () => ({ ok: true }),
    etcdHostLease: async (hostId) => ({ ok: true, key: `tsnet/hosts/${hostId}`, entry: { lease: '7587879021431474180', ttl: { ttlSeconds: 8, grantedSeconds: 10 }, pid: 4242, since: '2026-12-02T10:00:00.000Z' } }),
    etcdVteps: async () => [],
    links: async () => [{ name: 'eth0', mtu: 1500 }],
    routes: async () => [{ dst: 'default', dev: 'eth0' }, { dst: '192.168.1.0/24', dev: 'eth0' }],
    addressOwner: async () => ({ dev: 'eth0', mtu: 1500 }),
    routeTowards: async () => ({ dev: 'eth0', mtu: 1500 }),
    udpRefused: async () => false,
    dnsAnswers: async () => true,
    dockerDns: async () => ({ file: '/etc/docker/daemon.json', servers: ['169.254.53.53', '192.168.1.1'] }),
    uid: () => 0,
    ...overrides,
  };
}

export function healthyIptables(overrides: Partial<IptablesState> = {}): IptablesState {
  return {
    version: 'iptables v1.8.9 (nf_tables)', backend: 'nf_tables',
    forward: { policy: 'DROP', jumps: ['TSNET-FORWARD', 'DOCKER-USER', 'DOCKER-FORWARD'] },
    dockerUser: ['-A DOCKER-USER -j RETURN'],
    dockerChains: { legacy: false, nft: true },
    ...overrides,
  };
}

export function healthySocket(overrides: Partial<Extract<SocketState, { exists: true }>> = {}): SocketState {
  return { exists: true, isSocket: true, mode: 0o140660, uid: 0, gid: 0, activate: { ok: true, implements: ['NetworkDriver', 'IpamDriver'] }, ...overrides };
}

export const OPTIONS: DoctorOptions = {
  socketPath: '/run/docker/plugins/tsnet.sock', stateDir: '/var/lib/tsnet', dockerHost: 'unix:///var/run/docker.sock',
  hostId: 'node-1', vxlanPort: 4789, vxlanPeers: [], dnsListen: '169.254.53.53',
};

export const ETCD = { endpoints: ['http://10.0.0.5:2379'], prefix: 'tsnet/', dialTimeoutMs: 3000, callTimeoutMs: 3000 };

export function network(name: string, type: string, subnets: string[] = [], options: Record<string, string> = {}): DoctorNetwork {
  return { name, type, subnets, options: { 'tsnet.type': type, ...options } };
}

/** A check's context: the probe, options, and the facts runDoctor would gather. */
export function context(probe: DoctorProbe, options: Partial<DoctorOptions> = {}, facts: Partial<DoctorFacts> = {}): DoctorContext {
  return {
    probe,
    options: { ...OPTIONS, ...options },
    facts: { docker: { reachable: true, version: '28.5.2', apiVersion: '1.51', networks: [] }, networks: [], socket: healthySocket(), ...facts },
  };
}
