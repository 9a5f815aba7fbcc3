import type { IpamSpaceView, NetworkView, PeerView, PortView } from './views.js';

/** Human tables for the CLI (pure); `--json` prints the views themselves instead. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

const short = (id: string) => id.slice(0, 12);

export function renderNetworks(networks: readonly NetworkView[]): string {
  if (networks.length === 0) return 'no tsnet networks\n';
  return table(['NETWORK ID', 'NAME', 'TYPE', 'SUBNETS', 'DEVICES', 'ENDPOINTS'], networks.map((n) => [
    short(n.id), n.name ?? '-', n.type + (n.internal ? ' (internal)' : '') + (n.state === 'ready' ? '' : ` [${n.state}]`),
    n.subnets.map((s) => s.subnet).join(',') || '-', n.devices.join(',') || '-', String(n.endpoints.length),
  ]));
}

export function renderNetwork(n: NetworkView): string {
  const options = Object.entries(n.options).map(([k, v]) => `${k}=${v}`);
  const head = [
    `Network:   ${n.name ?? '(Docker name unknown)'} ${n.id}`,
    `Type:      ${n.type}${n.internal ? ', internal' : ''}, ${n.state}, created ${n.createdAt}`,
    `Subnets:   ${n.subnets.map((s) => (s.gateway ? `${s.subnet} gateway ${s.gateway.split('/')[0]}` : s.subnet)).join('; ') || '-'}`,
    `Devices:   ${n.devices.join(', ') || '-'}`,
    ...(n.driver ? [`Driver:    ${Object.entries(n.driver).map(([k, v]) => `${k}=${v}`).join(' ')}`] : []),
    `Options:   ${options.join(' ') || '-'}`,
    '',
  ].join('\n');
  if (n.endpoints.length === 0) return `${head}\nno endpoints\n`;
  return `${head}\n${table(['ENDPOINT', 'CONTAINER', 'ADDRESS', 'MAC', 'LINKS', 'PORTS'], n.endpoints.map((e) => [
    short(e.id), e.container ?? (e.containerId ? short(e.containerId) : '-'),
    [e.address, e.addressV6].filter(Boolean).join(',') || '-', e.mac ?? '-', e.links.join(',') || '-',
    e.ports.map(portText).join(',') || (e.joined ? '-' : '(not joined)'),
  ]))}`;
}

export function renderPorts(ports: readonly PortView[]): string {
  if (ports.length === 0) return 'no published ports\n';
  return table(['CONTAINER', 'NETWORK', 'PROTO', 'CONTAINER PORT', 'HOST'], ports.map((p) => [
    p.container ?? short(p.endpoint), p.networkName ?? short(p.network), p.proto,
    `${p.containerIp ?? '?'}:${p.containerPort}`, hostText(p),
  ]));
}

function hostText(p: PortView): string {
  const ports = p.hostPortEnd > p.hostPort ? `${p.hostPort}-${p.hostPortEnd}` : String(p.hostPort);
  const ip = p.hostIp === '' ? '0.0.0.0' : p.hostIp.includes(':') ? `[${p.hostIp}]` : p.hostIp;
  return p.hostPort === 0 ? '(on the container address)' : `${ip}:${ports}`;
}

function portText(p: PortView): string {
  return `${hostText(p)}->${p.containerPort}/${p.proto}`;
}

/** Where the resolver listens, and whether it does (`error`: why not). */
export interface DnsFact {
  readonly listen: string;
  readonly listening: boolean;
  readonly error?: string;
}

export interface StatusView {
  readonly version: string;
  readonly pid: number;
  readonly hostId: string;
  readonly ready: boolean;
  readonly uptimeSeconds: number;
  readonly pluginSocket: string;
  readonly stateDir: string;
  readonly etcd?: { readonly endpoints: string; readonly leaseHeld: boolean };
  /** The resolver of container names across hosts; absent when it is off (no etcd, --dns-listen none). */
  readonly dns?: DnsFact;
  readonly docker?: { readonly host: string; readonly lastLook?: string; readonly reachable?: boolean; readonly error?: string; readonly suspectedOrphans: readonly string[]; readonly lost: readonly string[] };
  readonly networks: Readonly<Record<string, number>>;
  readonly endpoints: number;
  readonly ports: number;
  /** Optional: a daemon older than this CLI does not send it. */
  readonly memory?: MemoryView;
}

export interface MemoryView {
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** V8 flags of src/core/node-flags.ts that the daemon's node was started without. */
  readonly missingNodeFlags: readonly string[];
}

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`;

export function renderStatus(s: StatusView): string {
  const byType = Object.entries(s.networks).map(([t, n]) => `${n} ${t}`).join(', ') || 'none';
  const docker = s.docker
    ? `${s.docker.host}: ${s.docker.lastLook === undefined ? 'not asked yet' : s.docker.reachable ? `reachable (last look ${s.docker.lastLook})` : `NOT reachable (${s.docker.error ?? 'unknown error'})`}`
    : 'not asked (--docker-host none)';
  const lines = [
    `tsnet ${s.version}, pid ${s.pid}, host ${s.hostId}, ${s.ready ? 'ready' : 'STARTING'}, up ${s.uptimeSeconds} s`,
    `plugin socket: ${s.pluginSocket}`,
    `store:         ${s.stateDir} (embedded)`,
    `etcd:          ${s.etcd ? `${s.etcd.endpoints}, host lease ${s.etcd.leaseHeld ? 'held' : 'NOT held'}` : 'none (overlay and global pools off)'}`,
    `docker:        ${docker}`,
    ...(s.dns ? [`names:         resolver ${s.dns.listen}:53 ${s.dns.listening ? 'listening (dockerd\'s "dns" must list it first)' : `NOT listening: ${s.dns.error ?? 'starting'}`}`] : []),
    `networks:      ${byType}; ${s.endpoints} endpoint(s), ${s.ports} published port(s)`,
  ];
  if (s.memory) {
    const flags = s.memory.missingNodeFlags.length > 0 ? `; node started WITHOUT ${s.memory.missingNodeFlags.join(' ')} (deploy/tsnet.service shows the command line and environment)` : '';
    lines.push(`memory:        ${mib(s.memory.rssBytes)} resident, V8 heap ${mib(s.memory.heapUsedBytes)} used${flags}`);
  }
  if (s.docker?.suspectedOrphans.length) lines.push(`suspected orphans (kept until Docker can be asked): ${s.docker.suspectedOrphans.join(', ')}`);
  if (s.docker?.lost.length) lines.push(`networks Docker has and tsnet lost (remove and re-create them): ${s.docker.lost.join(', ')}`);
  return lines.join('\n') + '\n';
}

export function renderPeers(views: readonly PeerView[]): string {
  if (views.length === 0) return 'no overlay networks on this host\n';
  return views.map((v) => {
    const title = `Overlay ${v.overlay} (network ${v.name ?? short(v.network)})`;
    const p = v.peers;
    if (!p) return `${title}: no endpoint on this host, so no VXLAN device and no peers programmed\n`;
    const sync = p.missing.length + p.stale.length === 0 ? 'kernel matches etcd' : `kernel DIFFERS from etcd: ${p.missing.length} missing, ${p.stale.length} stale`;
    const lines = [`${title}: device ${p.device}, ${sync}${p.watching ? '' : ', NOT watching etcd'}${p.lastConverged ? `, last programmed ${p.lastConverged}` : ''}`];
    lines.push(table(['HOST', 'VTEP', 'ENDPOINTS', 'SEEN SINCE'], p.vteps.map((t) => [
      t.host + (t.local ? ' (this host)' : ''), t.address,
      t.endpoints.map((e) => `${e.ips.join(',') || short(e.id)} ${e.mac}${e.names?.length ? ` (${e.names.join(', ')})` : ''}`).join('; ') || '-', t.seenAt ?? '-',
    ])).trimEnd());
    for (const m of p.missing) lines.push(`  missing in the kernel: ${m}`);
    for (const m of p.stale) lines.push(`  stale in the kernel:   ${m}`);
    return lines.join('\n') + '\n';
  }).join('\n');
}

export function renderIpam(spaces: readonly IpamSpaceView[]): string {
  return spaces.map((s) => {
    const title = `${s.space} (${s.shared ? 'shared by hosts through etcd' : 'this host'})`;
    if (s.error) return `${title}: cannot be read: ${s.error}\n`;
    if (s.pools.length === 0) return `${title}: no pools\n`;
    return `${title}\n${table(['POOL', 'SUB-POOL', 'GATEWAY', 'USED', 'HOLDERS (references/addresses)'], s.pools.map((p) => [
      p.pool, p.subPool ?? '-', p.gateway ?? '-', `${p.allocated}/${p.size}`, p.holders.map((h) => `${h.host} ${h.refs}/${h.addresses}`).join(', ') || '-',
    ]))}`;
  }).join('\n');
}
