import { join } from 'node:path';
import { run, waitFor, type ExecResult } from './exec.js';
import { spawnTracked, tail, type Tracked } from './process.js';

/**
 * Real-traffic helpers for e2e tests: a TCP server that reports who connected (to see what
 * source address a NAT left), firewall bypasses that prove "it is the firewall that stops this",
 * and SCTP through raw sockets for kernels without an SCTP stack.
 */

/** Runs `argv` in the network namespace at `netnsPath` (`/run/netns/X` or `/proc/PID/ns/net`). */
export function inNetnsAt(netnsPath: string, argv: readonly string[], options: { allowFail?: boolean; timeoutMs?: number } = {}): Promise<ExecResult> {
  return run(['nsenter', `--net=${netnsPath}`, ...argv], { allowFail: options.allowFail, timeoutMs: options.timeoutMs ?? 30_000 });
}

/**
 * Node program of {@link startPeerObserver}: for every connection it prints `peer ADDR PORT` and
 * answers `seen ADDR` before closing, so both the listener and the client learn the source
 * address the connection arrived with (an IPv4-mapped IPv6 address is shown as IPv4).
 */
const OBSERVER = String.raw`
const net = require('node:net');
const [port, host] = [Number(process.argv[1]), process.argv[2]];
const server = net.createServer((c) => {
  const who = String(c.remoteAddress).replace(/^::ffff:/, '');
  console.log('peer ' + who + ' ' + c.remotePort);
  c.on('error', () => {});
  c.end('seen ' + who + '\n');
});
server.on('error', (e) => { console.log('error ' + e.code); process.exit(2); });
server.listen({ port, host, ipv6Only: false }, () => console.log('listening ' + port));
`;

/** A TCP listener started by {@link startPeerObserver}. */
export interface PeerObserver {
  readonly port: number;
  /** Source addresses of the connections so far, in order. */
  peers(): string[];
  readonly process: Tracked;
  stop(): Promise<void>;
}

/**
 * Starts a TCP server on `port` in the namespace at `netnsPath` (node, the test runner's own
 * binary) and waits until it listens. `host` is `::` (both families, the default) or an
 * address. Stop it with {@link PeerObserver.stop}, e.g. in onTestFinished.
 */
export async function startPeerObserver(netnsPath: string, port: number, options: { host?: string; logDir?: string } = {}): Promise<PeerObserver> {
  const proc = spawnTracked([process.execPath, '-e', OBSERVER, String(port), options.host ?? '::'], {
    netnsPath,
    logFile: options.logDir ? join(options.logDir, `observer-${port}.log`) : undefined,
  });
  const observer: PeerObserver = {
    port,
    process: proc,
    peers: () => [...proc.output().matchAll(/^peer (\S+) \d+$/gm)].map((m) => m[1] ?? ''),
    stop: async () => {
      await proc.stop(2_000);
    },
  };
  try {
    await waitFor(() => {
      if (!proc.isRunning()) throw new Error(`observer exited: ${tail(proc.output())}`);
      return proc.output().includes(`listening ${port}`);
    }, { what: `a TCP listener on port ${port} in ${netnsPath}`, timeoutMs: 10_000 });
  } catch (err) {
    await proc.stop(1_000);
    throw err;
  }
  return observer;
}

/**
 * Inserts `ip[6]tables -I FORWARD 1 <match> -j ACCEPT` for each match in the host namespace, in
 * front of every other rule (tsnet's and Docker's), and returns the function that deletes them
 * again. Tests use it as the positive control of a "the firewall stops this" check: with the
 * bypass the same packets get through, so routes and listeners are fine and the firewall is
 * what stops them.
 */
export async function bypassForward(
  exec: (argv: readonly string[], options?: { allowFail?: boolean }) => Promise<ExecResult>,
  family: 4 | 6,
  matches: ReadonlyArray<readonly string[]>,
): Promise<() => Promise<void>> {
  const program = family === 4 ? 'iptables' : 'ip6tables';
  const added: Array<readonly string[]> = [];
  const undo = async () => {
    for (const match of added.splice(0)) await exec([program, '-w', '10', '-D', 'FORWARD', ...match, '-j', 'ACCEPT'], { allowFail: true });
  };
  try {
    for (const match of matches) {
      await exec([program, '-w', '10', '-I', 'FORWARD', '1', ...match, '-j', 'ACCEPT']);
      added.push(match);
    }
  } catch (err) {
    await undo();
    throw err;
  }
  return undo;
}

/** Name of the interface in the host namespace that holds `address` (a bridge's gateway). */
export async function interfaceWithAddress(exec: (argv: readonly string[]) => Promise<ExecResult>, address: string): Promise<string> {
  const line = (await exec(['ip', '-o', 'addr', 'show', 'to', address])).stdout.trim();
  const name = line.split(/\s+/)[1];
  if (!name) throw new Error(`no interface in the host namespace has ${address}`);
  return name;
}

/**
 * Whether this kernel can open SCTP sockets (it needs the sctp protocol, CONFIG_IP_SCTP, built in
 * or loadable). `why` quotes the error when it cannot.
 */
export async function sctpSocketSupport(): Promise<{ readonly ok: boolean; readonly why: string }> {
  const probe = await run(['python3', '-c', 'import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP).close()'], { allowFail: true });
  const why = probe.stderr.trim().split('\n').at(-1) ?? '';
  return { ok: probe.code === 0, why };
}

/**
 * SCTP over raw IPv4 sockets, for kernels without an SCTP stack: netfilter still tracks and NATs
 * SCTP (nf_conntrack_proto_sctp, xt_sctp), so a hand-made association is real SCTP traffic
 * through tsnet's rules. Packets carry correct CRC32c checksums (conntrack drops bad ones in
 * PREROUTING) and verification tags, so conntrack follows the association to ESTABLISHED.
 *
 *   respond PORT: answers INIT with INIT-ACK (with a state cookie), COOKIE-ECHO with COOKIE-ACK,
 *     DATA with SACK, for packets to PORT; prints `INIT src:sport > dst:dport` and `DATA text`.
 *   associate DST DPORT SPORT TEXT SECONDS: INIT until INIT-ACK, COOKIE-ECHO until COOKIE-ACK,
 *     DATA until SACK (each sent again every 0.5 s, SECONDS in all); prints each step with the
 *     peer that answered, exits 0 when the SACK came, 1 (`STEP: no answer`) on timeout.
 */
const SCTP_RAW = String.raw`
import os, random, select, socket, struct, sys, time

def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF

def packet(sport, dport, vtag, chunks):
    head = struct.pack('!HHI', sport, dport, vtag)
    return head + struct.pack('<I', crc32c(head + b'\0\0\0\0' + chunks)) + chunks

def chunk(ctype, flags, value):
    body = struct.pack('!BBH', ctype, flags, 4 + len(value)) + value
    return body + b'\0' * (-len(body) % 4)

def init_like(ctype, tag, tsn, params=b''):
    return chunk(ctype, 0, struct.pack('!IIHHI', tag, 65535, 1, 1, tsn) + params)

def parse(raw):
    ihl = (raw[0] & 15) * 4
    src, dst = socket.inet_ntoa(raw[12:16]), socket.inet_ntoa(raw[16:20])
    sctp = raw[ihl:]
    if len(sctp) < 16:
        return None
    sport, dport, vtag = struct.unpack('!HHI', sctp[:8])
    ctype, flags, length = struct.unpack('!BBH', sctp[12:16])
    return src, dst, sport, dport, vtag, ctype, sctp[16:12 + length]

def sock():
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_SCTP)
    s.setblocking(False)
    return s

def recv(s, timeout):
    ready, _, _ = select.select([s], [], [], timeout)
    if not ready:
        return None
    try:
        return parse(s.recv(65535))
    except OSError:
        return None  # an ICMP error (no SCTP stack at the far end) reported on the socket

def send(s, data, dst):
    try:
        s.sendto(data, (dst, 0))
    except OSError:
        pass

def respond(port):
    s, my_tag, tsn_seen = sock(), random.randint(1, 2**32 - 1), None
    print('ready', flush=True)
    while True:
        p = recv(s, 1.0)
        if not p or p[3] != port:
            continue
        src, dst, sport, dport, vtag, ctype, value = p
        if ctype == 1:
            peer_tag = struct.unpack('!I', value[:4])[0]
            print('INIT %s:%d > %s:%d' % (src, sport, dst, dport), flush=True)
            cookie = struct.pack('!HH', 7, 12) + b'tsnet-ck'
            send(s, packet(dport, sport, peer_tag, init_like(2, my_tag, 1, cookie)), src)
        elif ctype == 10 and vtag == my_tag:
            send(s, packet(dport, sport, peer_tag, chunk(11, 0, b'')), src)
        elif ctype == 0 and vtag == my_tag:
            tsn = struct.unpack('!I', value[:4])[0]
            if tsn != tsn_seen:
                print('DATA ' + value[12:].rstrip(b'\0').decode(), flush=True)
                tsn_seen = tsn
            send(s, packet(dport, sport, peer_tag, chunk(3, 0, struct.pack('!IIHH', tsn, 65535, 0, 0))), src)

def associate(dst, dport, sport, text, seconds):
    s, my_tag, deadline = sock(), random.randint(1, 2**32 - 1), time.time() + seconds
    def exchange(what, data, want):
        while time.time() < deadline:
            send(s, data, dst)
            until = time.time() + 0.5
            while time.time() < until:
                p = recv(s, max(0.0, until - time.time()))
                if p and p[2] == dport and p[3] == sport and p[4] == my_tag and p[5] == want:
                    print('%s answered by %s:%d' % (what, p[0], p[2]), flush=True)
                    return p
        print('%s: no answer' % what, flush=True)
        sys.exit(1)
    ack = exchange('INIT', packet(sport, dport, 0, init_like(1, my_tag, 100)), 2)
    peer_tag = struct.unpack('!I', ack[6][:4])[0]
    cookie = ack[6][16:]
    exchange('COOKIE-ECHO', packet(sport, dport, peer_tag, chunk(10, 0, cookie[4:struct.unpack('!H', cookie[2:4])[0]])), 11)
    exchange('DATA', packet(sport, dport, peer_tag, chunk(0, 3, struct.pack('!IHHI', 100, 0, 0, 0) + text.encode())), 3)

if sys.argv[1] == 'respond':
    respond(int(sys.argv[2]))
else:
    associate(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], float(sys.argv[6]))
`;

/** Starts the raw-socket SCTP responder for `port` in a namespace and waits until it reads. */
export async function startSctpResponder(netnsPath: string, port: number): Promise<Tracked> {
  const proc = spawnTracked(['python3', '-c', SCTP_RAW, 'respond', String(port)], { netnsPath });
  try {
    await waitFor(() => {
      if (!proc.isRunning()) throw new Error(`SCTP responder exited: ${tail(proc.output())}`);
      return proc.output().includes('ready');
    }, { what: 'the SCTP responder', timeoutMs: 10_000 });
  } catch (err) {
    await proc.stop(1_000);
    throw err;
  }
  return proc;
}

/** Runs a raw-socket SCTP association from a namespace (see SCTP_RAW); never throws on failure. */
export function sctpAssociate(netnsPath: string, dst: string, dport: number, sport: number, text: string, seconds = 20): Promise<ExecResult> {
  return inNetnsAt(netnsPath, ['python3', '-c', SCTP_RAW, 'associate', dst, String(dport), String(sport), text, String(seconds)], { allowFail: true, timeoutMs: seconds * 1000 + 20_000 });
}

/**
 * Real SCTP sockets (kernels with an SCTP stack): a one-shot server that sends TEXT to the first
 * client, and a client that prints what it received.
 */
const SCTP_SOCKETS = String.raw`
import socket, sys
if sys.argv[1] == 'serve':
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
    s.bind(('0.0.0.0', int(sys.argv[2]))); s.listen(1); print('ready', flush=True)
    c, peer = s.accept(); print('peer %s:%d' % peer, flush=True); c.send(sys.argv[3].encode()); c.close()
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP); s.settimeout(5)
    s.connect((sys.argv[2], int(sys.argv[3]))); print(s.recv(100).decode(), flush=True)
`;

export async function startSctpServer(netnsPath: string, port: number, text: string): Promise<Tracked> {
  const proc = spawnTracked(['python3', '-c', SCTP_SOCKETS, 'serve', String(port), text], { netnsPath });
  await waitFor(() => {
    if (!proc.isRunning()) throw new Error(`SCTP server exited: ${tail(proc.output())}`);
    return proc.output().includes('ready');
  }, { what: 'the SCTP server', timeoutMs: 10_000 });
  return proc;
}

export function sctpConnect(netnsPath: string, dst: string, port: number): Promise<ExecResult> {
  return inNetnsAt(netnsPath, ['python3', '-c', SCTP_SOCKETS, 'connect', dst, String(port)], { allowFail: true, timeoutMs: 15_000 });
}
