import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { tsnetError } from '../core/errors.js';
import { shortId } from '../core/ids.js';
import type { EndpointRecord, PortBinding, Protocol } from '../core/model.js';

/** Docker's default ephemeral range for `-p CONTAINERPORT` without a host port. */
export const EPHEMERAL_PORTS = { first: 49153, last: 60999 } as const;

/** Answers whether a host port can be bound right now (no other program holds it). */
export type PortProbe = (proto: Protocol, hostIp: string, port: number) => Promise<'free' | 'in-use' | 'no-such-address'>;

interface Holder {
  readonly endpoint: EndpointRecord;
  readonly binding: PortBinding;
}

/**
 * Resolves the bindings Docker asked for into concrete host ports: a range picks its first free
 * port, port 0 picks from the ephemeral range. A port already published by another tsnet
 * endpoint, or held by another program, is refused with a message naming the holder. A binding
 * that `direct` says is reached on the container's own address takes no host port (host port 0).
 */
export async function resolvePortBindings(
  requested: readonly PortBinding[],
  endpoint: EndpointRecord,
  others: readonly EndpointRecord[],
  probe: PortProbe,
  direct: (binding: PortBinding) => boolean = () => false,
): Promise<PortBinding[]> {
  const taken: Holder[] = others.filter((o) => o.id !== endpoint.id).flatMap((o) => o.ports.map((binding) => ({ endpoint: o, binding })));
  const resolved: PortBinding[] = [];
  for (const binding of requested) {
    checkBinding(binding);
    if (direct(binding)) {
      resolved.push({ ...binding, hostPort: 0, hostPortEnd: 0 });
      continue;
    }
    const candidates = candidatePorts(binding);
    let chosen: number | undefined;
    let lastProblem = '';
    for (const port of candidates) {
      const holder = taken.find((h) => sameSocket(h.binding, binding.proto, binding.hostIp, port));
      if (holder) {
        lastProblem = `host port ${describe(binding.hostIp, port, binding.proto)} is already published by tsnet endpoint ${shortId(holder.endpoint.id)} on network ${shortId(holder.endpoint.networkId)}`;
        continue;
      }
      const state = await probe(binding.proto, binding.hostIp, port);
      if (state === 'no-such-address') {
        throw tsnetError('TSNET_PORT_HOSTIP', `host IP ${binding.hostIp} in -p ${binding.hostIp}:${binding.hostPort}:${binding.port} is not an address of this host`, 'publish on an address the host has, or leave the host IP out');
      }
      if (state === 'in-use') {
        lastProblem = `host port ${describe(binding.hostIp, port, binding.proto)} is in use by another program on this host`;
        continue;
      }
      chosen = port;
      break;
    }
    if (chosen === undefined) {
      throw tsnetError('TSNET_PORT_TAKEN', lastProblem || `no free host port for container port ${binding.port}/${binding.proto}`, 'choose another host port with -p HOSTPORT:PORT, or stop what holds it');
    }
    const done: PortBinding = { ...binding, hostPort: chosen, hostPortEnd: chosen };
    resolved.push(done);
    taken.push({ endpoint, binding: done });
  }
  return resolved;
}

/**
 * True when `held` occupies a host port that `requested` names explicitly (a fixed port, or
 * within a fixed range). A request for any free port (host port 0) never needs anyone's port.
 */
export function claimsHeldPort(requested: PortBinding, held: PortBinding): boolean {
  if (requested.hostPort === 0) return false;
  const end = Math.max(requested.hostPort, requested.hostPortEnd);
  return held.hostPort >= requested.hostPort && held.hostPort <= end && sameSocket(held, requested.proto, requested.hostIp, held.hostPort);
}

function checkBinding(binding: PortBinding): void {
  if (binding.port < 1 || binding.port > 65535) {
    throw tsnetError('TSNET_PORT_INVALID', `container port ${binding.port} is out of range`, 'use 1 to 65535');
  }
  if (binding.hostPortEnd !== 0 && binding.hostPortEnd < binding.hostPort) {
    throw tsnetError('TSNET_PORT_INVALID', `host port range ${binding.hostPort}-${binding.hostPortEnd} ends before it starts`, 'write the range low-high, e.g. -p 8000-8010:80');
  }
}

function candidatePorts(binding: PortBinding): number[] {
  if (binding.hostPort === 0) {
    const ports: number[] = [];
    for (let p = EPHEMERAL_PORTS.first; p <= EPHEMERAL_PORTS.last; p++) ports.push(p);
    return ports;
  }
  const end = Math.max(binding.hostPort, binding.hostPortEnd);
  const ports: number[] = [];
  for (let p = binding.hostPort; p <= end; p++) ports.push(p);
  return ports;
}

function sameSocket(existing: PortBinding, proto: Protocol, hostIp: string, port: number): boolean {
  if (existing.proto !== proto || existing.hostPort !== port) return false;
  return isWildcard(existing.hostIp) || isWildcard(hostIp) || existing.hostIp === hostIp;
}

function isWildcard(ip: string): boolean {
  return ip === '' || ip === '0.0.0.0' || ip === '::';
}

function describe(hostIp: string, port: number, proto: Protocol): string {
  return `${isWildcard(hostIp) ? '' : `${hostIp}:`}${port}/${proto}`;
}

/**
 * The real probe: try to bind the port for a moment in the daemon's own network namespace (the
 * host's). docker-proxy and any other listener hold their ports bound, so they are found.
 */
export const bindProbe: PortProbe = (proto, hostIp, port) => {
  const host = isWildcard(hostIp) ? (hostIp === '::' ? '::' : '0.0.0.0') : hostIp;
  if (proto === 'sctp') return Promise.resolve('free');
  return new Promise((resolve) => {
    const settle = (error?: NodeJS.ErrnoException) => {
      if (!error) return resolve('free');
      resolve(error.code === 'EADDRNOTAVAIL' ? 'no-such-address' : error.code === 'EADDRINUSE' || error.code === 'EACCES' ? 'in-use' : 'free');
    };
    if (proto === 'udp') {
      const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      socket.once('error', (error) => { socket.close(); settle(error); });
      socket.bind({ address: host, port, exclusive: true }, () => socket.close(() => settle()));
      return;
    }
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => settle(error));
    server.listen({ host, port, exclusive: true }, () => server.close(() => settle()));
  });
};
