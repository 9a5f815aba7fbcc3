import { Server, type RequestListener } from 'node:http';
import { BODY_IDLE_TIMEOUT_MS } from './body.js';

/**
 * The Node HTTP server behind the plugin socket, built here rather than by Fastify so that tsnet
 * sets its client time limits and how the unix socket file is created.
 */

/**
 * Mode bits masked out while the socket is bound: bind(2) creates the file as 0777 & ~umask,
 * so 0o117 yields exactly 0660 (owner and group read/write, nothing for others).
 */
const SOCKET_UMASK = 0o117;

/**
 * Runs `bind` (a synchronous listen on a unix socket path) with the umask set so that the
 * socket file is born 0660, then restores the umask.
 *
 * Why not chmod after listen: the file exists with the process umask's permissions (often
 * 0755 or 0777 for a socket) until the chmod, and a local user who connects in that window
 * keeps the connection afterwards. Why not bind in a private 0700 directory and rename into
 * place: libuv unlinks the path it bound when the server closes, so the renamed socket would
 * stay behind after every stop. Node binds synchronously inside `listen()` (net.Server →
 * Pipe.bind before listen() returns), so no other JavaScript runs while the umask differs; the
 * umask is process-wide, so a file that a libuv worker thread happened to create during those
 * microseconds would get the narrower mask too, which errs on the safe side (and nothing in
 * tsnet creates files then: the store opens after the socket listens).
 */
export function withSocketUmask<T>(bind: () => T): T {
  const previous = process.umask(SOCKET_UMASK);
  try {
    return bind();
  } finally {
    process.umask(previous);
  }
}

/** Time limits the plugin's HTTP server puts on a client; see {@link CLIENT_TIMEOUTS}. */
export interface ClientTimeouts {
  /** The request line and headers must arrive within this long. */
  readonly headersMs: number;
  /** The whole request (headers and body) must arrive within this long. */
  readonly requestMs: number;
  /** How often Node looks for connections past those limits (its default is every 30 s). */
  readonly checkIntervalMs: number;
  /** A body that stops arriving for this long is answered 408 (src/api/body.ts). */
  readonly bodyIdleMs: number;
}

/**
 * Docker writes each request whole, in one go, over a local socket, so a well-behaved client
 * needs milliseconds. The limits only have to outlast a daemon whose event loop is held up on a
 * loaded host (Node checks them from a timer, which runs before pending reads are processed),
 * hence seconds rather than milliseconds: 10 s for the headers, 30 s for a whole request. Node's
 * own defaults (60 s headers, 300 s request, checked every 30 s; Fastify even turns the request
 * limit off) let a stalled client hold a connection for minutes.
 */
export const CLIENT_TIMEOUTS: ClientTimeouts = {
  headersMs: 10_000,
  requestMs: 30_000,
  checkIntervalMs: 1_000,
  bodyIdleMs: BODY_IDLE_TIMEOUT_MS,
};

/**
 * Idle keep-alive connections are kept this long: Docker's Go client cannot safely retry a POST
 * on a connection the server closed under it, so idle connections are not cut early (Fastify's
 * default, kept explicitly now that tsnet builds the server itself).
 */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;

/**
 * The HTTP server behind the plugin socket: Node's server with {@link ClientTimeouts}, whose
 * `listen` binds the unix socket already restricted to 0660 ({@link withSocketUmask}).
 */
export function createPluginServer(handler: RequestListener, timeouts: ClientTimeouts): Server {
  const server = new PluginServer({
    headersTimeout: timeouts.headersMs,
    requestTimeout: timeouts.requestMs,
    connectionsCheckingInterval: timeouts.checkIntervalMs,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
  }, handler);
  return server;
}

class PluginServer extends Server {
  override listen(...args: unknown[]): this {
    return withSocketUmask(() => (Server.prototype.listen as (...a: unknown[]) => this).apply(this, args));
  }
}
