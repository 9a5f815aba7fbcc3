import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { formatZodIssues } from '../../plugin-spec/format.js';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { ReplyWatch } from '../cnm/service.js';
import { callTiming } from '../core/call-timing.js';
import { callDeadline } from '../core/deadline.js';
import { isClientGone, parseJsonBody, readBody } from './body.js';
import { CLIENT_TIMEOUTS, createPluginServer, type ClientTimeouts } from './http-server.js';
import type { Socket } from 'node:net';
import { isTsnetError, TsnetError } from '../core/errors.js';
import { trackRequests } from './prompt-close.js';

/** Docker's helper library answers with this media type; Docker itself accepts any JSON. */
export const PLUGIN_MEDIA_TYPE = 'application/vnd.docker.plugins.v1+json';

export interface AppOptions {
  readonly log: Logger;
  /** Resolves once the store is open and reconciliation is done; calls wait for it. */
  readonly ready: Promise<void>;
  readonly handlerTimeoutMs: number;
  readonly bodyLimit: number;
  /**
   * Attribute time spent in kernel programs to each call (logged as kernelMs). It rides on
   * AsyncLocalStorage, whose promise hooks cost every call some throughput, so it is opt-in.
   */
  readonly kernelTiming?: boolean;
  /** Limits on slow clients; default {@link CLIENT_TIMEOUTS}. Tests shorten them. */
  readonly clientTimeouts?: Partial<ClientTimeouts>;
  /**
   * Fault injection for crash tests only (TSNET_TEST_KILL_BEFORE_REPLY): the daemon kills itself
   * with SIGKILL after these methods have done and recorded their work, before the reply is
   * written, which is the moment a real crash leaves Docker believing the call failed.
   */
  readonly killBeforeReply?: ReadonlySet<string>;
  /** Told of every answered call (for metrics), after its log line. Must not throw. */
  readonly onCall?: (call: { readonly method: string; readonly outcome: string; readonly ms: number; readonly code?: string }) => void;
}

export type MethodName = `${'Plugin' | 'NetworkDriver' | 'IpamDriver'}.${string}`;

/**
 * What a handler knows about its call beyond the body: when its successful reply has been
 * handed to Docker's socket. A reply that fails, times out or never leaves the daemon never
 * fires it, which is how a record made by a call Docker took as failed is told apart.
 */
export interface CallContext {
  readonly reply: ReplyWatch;
}

/** Registers one protocol method; see `defineMethod`. */
export type MethodRegistrar = <S extends z.ZodType, R>(name: MethodName, schema: S, handler: (body: z.output<S>, call: CallContext) => Promise<R> | R) => void;

/**
 * The Fastify app that speaks Docker's plugin protocol. Body parsing accepts any or no
 * Content-Type (Docker sends none) and the empty body of argument-less methods; errors map to
 * Docker's conventions (docs/protocol.md): TsnetError → 200 {Err} ({Error} for IpamDriver
 * methods), bad JSON or schema → 400, oversized body → 413, unknown method → 404, start-up
 * failed → 503, bug → 500 with the request id.
 */
export function buildApp(options: AppOptions, register: (define: MethodRegistrar) => void): FastifyInstance {
  // Fastify's own request/response lines are off: each call logs exactly one line of ours.
  const timeouts: ClientTimeouts = { ...CLIENT_TIMEOUTS, ...options.clientTimeouts };
  const app: FastifyInstance = Fastify({
    loggerInstance: options.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit,
    return503OnClosing: true,
    // tsnet's own server: time limits on slow clients, socket file born 0660 (defects 11, 12 of issue 7).
    serverFactory: (handler) => createPluginServer(handler, timeouts),
    clientErrorHandler(err: Error & { code?: string }, socket: Socket) {
      clientError(options.log, err, socket, timeouts);
    },
  });
  trackRequests(app);
  app.removeAllContentTypeParsers();
  // Fastify's own limit would answer 413 and close mid-upload; this parser drains first.
  app.addContentTypeParser('*', { bodyLimit: Number.MAX_SAFE_INTEGER }, (request, payload, done) => {
    readBody(payload as IncomingMessage, options.bodyLimit, timeouts.bodyIdleMs).then(parseJsonBody).then((body) => done(null, body), (err: Error) => done(err, undefined));
  });
  app.setNotFoundHandler((request, reply) => {
    const method = request.url.replace(/^\//, '').slice(0, 80);
    request.log.info({ method, outcome: 'not-implemented' }, 'call');
    void reply.code(404).type(PLUGIN_MEDIA_TYPE).send({ Err: `tsnet does not implement ${method}` });
  });
  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, request, reply) => {
    const method = request.url.slice(1, 80);
    if (isClientGone(error)) {
      // Nobody is left to answer; a client leaving is routine, not a tsnet fault.
      request.log.info({ method, outcome: 'client-gone', reason: error.message }, 'call');
      reply.hijack();
      reply.raw.destroy();
      return;
    }
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) request.log.error({ err: error }, 'internal error');
    else request.log.info({ method, status, outcome: status === 408 ? 'client-too-slow' : 'bad-request', reason: error.message }, 'call');
    // After a 408 the rest of the body may never come: close rather than wait to reuse the connection.
    if (status === 408) void reply.header('connection', 'close');
    void reply.code(status).type(PLUGIN_MEDIA_TYPE).send({ Err: status === 500 ? internalMessage(request) : error.message });
  });
  register((name, schema, handler) => defineMethod(app, options, name, schema, handler));
  return app;
}

function defineMethod<S extends z.ZodType, R>(app: FastifyInstance, options: AppOptions, name: MethodName, schema: S, handler: (body: z.output<S>, call: CallContext) => Promise<R> | R): void {
  app.post(`/${name}`, async (request: FastifyRequest, reply: FastifyReply) => {
    const started = performance.now();
    const timing = { kernelMs: 0 };
    void reply.type(PLUGIN_MEDIA_TYPE);
    const ids = idsOf(request.body);
    const kernel = options.kernelTiming ? () => ({ kernelMs: round(timing.kernelMs) }) : () => ({});
    const finish = (outcome: string, extra: { code?: string } & Record<string, unknown> = {}) => {
      const ms = round(performance.now() - started);
      request.log.info({ method: name, ...ids, ms, ...kernel(), outcome, ...extra }, 'call');
      options.onCall?.({ method: name, outcome, ms, ...(extra.code ? { code: extra.code } : {}) });
    };
    const reserved = findReservedKey(request.body);
    if (reserved) {
      finish('invalid', { reason: reserved });
      return reply.code(400).send({ Err: `${name}: ${reserved}` });
    }
    const parsed = schema.safeParse(request.body);
    if (!parsed.success) {
      const reason = formatZodIssues(parsed.error, request.body);
      finish('invalid', { reason });
      return reply.code(400).send({ Err: `${name}: ${reason}` });
    }
    const delivery = new Delivery();
    try {
      const work = async () => {
        await options.ready.catch((err: unknown) => { throw new StartupFailed(err); });
        return handler(parsed.data, { reply: delivery });
      };
      const result = await withDeadline(options.kernelTiming ? () => callTiming.run(timing, work) : work, options.handlerTimeoutMs, name);
      finish('ok');
      if (options.killBeforeReply?.has(name)) process.kill(process.pid, 'SIGKILL');
      delivery.succeeded(reply.raw);
      return result ?? {};
    } catch (err) {
      delivery.failed();
      if (err instanceof StartupFailed) {
        // Start-up failed (e.g. the state directory is locked) and the daemon is exiting.
        finish('unavailable');
        return reply.code(503).send({ Err: err.message });
      }
      if (isTsnetError(err)) {
        finish('refused', { code: err.code, kind: err.kind, retryable: err.retryable, reason: err.message });
        // libnetwork's IPAM client reads refusals from "Error"; every other interface uses "Err".
        return name.startsWith('IpamDriver.') ? { Error: err.userMessage() } : { Err: err.userMessage() };
      }
      request.log.error({ err, method: name, ...ids }, 'internal error');
      finish('error');
      return reply.code(500).send({ Err: internalMessage(request) });
    }
  });
}

/** Network and endpoint ids for the log line, taken only if they are short plain strings. */
function idsOf(body: unknown): Record<string, string> {
  if (typeof body !== 'object' || body === null) return {};
  const ids: Record<string, string> = {};
  for (const [field, key] of [['NetworkID', 'networkId'], ['EndpointID', 'endpointId'], ['PoolID', 'poolId']] as const) {
    const value = (body as Record<string, unknown>)[field];
    if (typeof value === 'string' && value.length <= 128) ids[key] = value;
  }
  return ids;
}

/**
 * Answers Docker when `ms` pass, and tells the work so (callDeadline): it stops at its next step
 * and rolls back, rather than finish behind Docker's back.
 */
async function withDeadline<T>(work: () => Promise<T>, ms: number, name: string): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new TsnetError('TSNET_DEADLINE', `${name} did not finish within ${ms} ms`, 'the host may be overloaded; see the tsnet log, then retry (what the call had done was rolled back)');
      controller.abort(err);
      reject(err);
    }, ms);
  });
  try {
    return await Promise.race([callDeadline.run(controller.signal, work), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Listeners of one call's successful delivery; see {@link CallContext}. */
class Delivery implements ReplyWatch {
  private listeners: Array<() => void> | undefined = [];

  onDelivered(listener: () => void): void {
    this.listeners?.push(listener);
  }

  /** The reply is being sent: fire once its last byte is in the socket ('finish'). */
  succeeded(response: ServerResponse): void {
    const listeners = this.listeners ?? [];
    this.listeners = undefined;
    if (listeners.length === 0) return;
    response.once('finish', () => listeners.forEach((listener) => listener()));
  }

  /** The call answered an error (or its deadline passed): listeners, even later ones, never fire. */
  failed(): void {
    this.listeners = undefined;
  }
}

/**
 * JSON.parse keeps a key "__proto__" as an ordinary property, but every object copy after it
 * (zod's included) turns it into a prototype change and the entry silently disappears. Such a
 * key is refused by name rather than dropped.
 */
export function findReservedKey(body: unknown): string | undefined {
  // Iterative: a hostile body may nest deeper than the call stack goes.
  const stack: Array<{ value: unknown; path: string }> = [{ value: body, path: '' }];
  while (stack.length > 0) {
    const { value, path } = stack.pop() as { value: unknown; path: string };
    if (typeof value !== 'object' || value === null) continue;
    for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
      if (key === '__proto__') return `${path ? `${path}: ` : ''}the key "__proto__" is not allowed (it cannot be stored as an option name)`;
      if (typeof inner === 'object' && inner !== null) stack.push({ value: inner, path: path ? `${path}.${key}` : key });
    }
  }
  return undefined;
}

class StartupFailed extends Error {
  constructor(cause: unknown) {
    super(`tsnet could not start: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

/**
 * A connection-level problem found by Node before any route ran: headers or request too slow
 * (408), malformed HTTP (400), headers too large (431). Answered with `{Err}` like every other
 * refusal, logged at info, and the connection closed; a peer that already left gets nothing.
 */
function clientError(log: Logger, err: Error & { code?: string }, socket: Socket, timeouts: ClientTimeouts): void {
  const [status, outcome, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'client-too-slow', `the request did not arrive within ${timeouts.headersMs / 1000} s (headers) or ${timeouts.requestMs / 1000} s (whole request); tsnet closed the connection`]
    : err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'bad-request', 'the request headers are too large']
    : [400, 'bad-request', `malformed HTTP request: ${err.message}`];
  // The peer closed mid-request (HPE_INVALID_EOF_STATE: end of stream inside a message). The
  // request itself, if it had begun, logs its own "client-gone" line from the body reader.
  if (err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_EOF_STATE' || socket.destroyed) {
    log.debug({ outcome: 'client-gone', reason: err.message, code: err.code }, 'connection');
    socket.destroy();
    return;
  }
  log.info({ status, outcome, reason: err.message, code: err.code }, 'call');
  if (socket.writable) {
    const body = JSON.stringify({ Err: message });
    // end() flushes the answer first; destroy() then drops a peer that never reads it.
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: ${PLUGIN_MEDIA_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`, () => socket.destroy());
  } else {
    socket.destroy();
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

function internalMessage(request: FastifyRequest): string {
  return `tsnet internal error (request ${request.id}); see the tsnet log`;
}
