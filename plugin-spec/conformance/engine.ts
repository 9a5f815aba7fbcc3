import { request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';

/**
 * The few Docker Engine API calls the real-Docker mode makes, over dockerd's unix socket with
 * node:http: no docker CLI, no client library. Paths are unversioned, so dockerd answers with its
 * own API version (1.41 for 20.10, 1.51 for 28.5); every field used exists in both.
 */

/** What came back from one Engine API call. */
export interface EngineReply {
  readonly status: number;
  readonly json: unknown;
  readonly text: string;
}

/** An Engine API call that dockerd refused; `message` is dockerd's own. */
export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** `unix:///run/docker.sock` → `/run/docker.sock`; anything else is undefined (the kit speaks only to a unix socket). */
export function engineSocketPath(dockerHost: string): string | undefined {
  const match = /^unix:\/\/(\/.+)$/.exec(dockerHost);
  return match?.[1];
}

/** One call; resolves whatever the status (a transport error or a timeout rejects). */
export function engineCall(socketPath: string, method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<EngineReply> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request({
      socketPath, path, method, agent: false,
      headers: { Host: 'docker', ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) } : {}) },
    });
    const timer = setTimeout(() => req.destroy(new Error(`${method} ${path}: dockerd did not answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => { clearTimeout(timer); reject(err); });
      res.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try { json = text.trim() === '' ? undefined : JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, json, text });
      });
    });
    req.on('error', (err) => { clearTimeout(timer); reject(err); });
    req.end(payload);
  });
}

/** dockerd's message in an error reply (`{"message": "…"}`), else the start of the body. */
export function engineMessage(reply: EngineReply): string {
  const message = (reply.json as { message?: unknown } | undefined)?.message;
  if (typeof message === 'string' && message !== '') return message;
  const text = reply.text.trim();
  return text === '' ? `HTTP ${reply.status}` : text.slice(0, 300);
}

/** A call that must answer 2xx; otherwise an {@link EngineError} with `what` and dockerd's message. Returns the JSON. */
export async function engineOk(socketPath: string, what: string, method: string, path: string, body?: unknown, timeoutMs?: number): Promise<unknown> {
  const reply = await engineCall(socketPath, method, path, body, timeoutMs);
  if (reply.status < 200 || reply.status > 299) throw new EngineError(reply.status, `${what}: dockerd answered HTTP ${reply.status}: ${engineMessage(reply)}`);
  return reply.json;
}

/**
 * Makes sure a dockerd answers at `socketPath` (`GET /_ping`, then `GET /version`); resolves to
 * its version, e.g. "28.5.2". Rejects with a message saying what is wrong.
 */
export async function engineVersion(socketPath: string, timeoutMs = 10_000): Promise<string> {
  const ping = await engineCall(socketPath, 'GET', '/_ping', undefined, timeoutMs);
  if (ping.status !== 200 || ping.text.trim() !== 'OK') throw new Error(`GET /_ping answered HTTP ${ping.status} ${ping.text.trim().slice(0, 100)}, not a dockerd`);
  const version = await engineCall(socketPath, 'GET', '/version', undefined, timeoutMs);
  const v = (version.json as { Version?: unknown } | undefined)?.Version;
  return typeof v === 'string' ? v : 'unknown';
}

/**
 * Connects to `host:port` (the kit's only network traffic besides the sockets: to loopback) and
 * resolves to what the server sends before closing, at most `limit` bytes; rejects after `timeoutMs`.
 */
export function readTcp(host: string, port: number, timeoutMs: number, limit = 4096): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const chunks: Buffer[] = [];
    let size = 0;
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`)));
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      if (size >= limit) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', (hadError) => { if (!hadError) resolve(Buffer.concat(chunks).toString('utf8')); });
  });
}
