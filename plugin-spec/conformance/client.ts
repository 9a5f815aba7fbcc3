import { request, type ClientRequest, type IncomingMessage } from 'node:http';

/** The media type dockerd's plugin client puts in `Accept` (and nothing in Content-Type). */
export const DOCKER_PLUGIN_ACCEPT = 'application/vnd.docker.plugins.v1.2+json';

/** What came back from one call. */
export interface PluginReply {
  readonly status: number;
  /** The body parsed as JSON, when it is a JSON object; otherwise undefined. */
  readonly json: Record<string, unknown> | undefined;
  /** The raw body, for diagnostics. */
  readonly text: string;
}

/** Options of {@link postPlugin}. */
export interface PostOptions {
  /** Extra or replacement headers (e.g. a Content-Type, which Docker never sends). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Give up after this long. Default 30 s. */
  readonly timeoutMs?: number;
}

const CHUNK = 64 * 1024;
/** After a write error, how long to wait for the reply the server may already have sent. */
const GRACE_MS = 250;

/**
 * One protocol call exactly as dockerd makes it: `POST /<method>` over the unix socket with
 * only `Accept: application/vnd.docker.plugins.v1.2+json`, no Content-Type, and
 * `Content-Length` (0 for methods without arguments). `body` is sent verbatim; undefined sends
 * the empty body. A bare number as `options` is the timeout in ms.
 *
 * A server may answer an oversized body (413) and close the connection before it has read
 * it; the body is therefore written in chunks, writing stops once a reply arrives, and a write
 * error is ignored when the reply comes after all.
 */
export function postPlugin(socketPath: string, method: string, body?: string | Buffer, options: number | PostOptions = {}): Promise<PluginReply> {
  const { headers = {}, timeoutMs = 30_000 } = typeof options === 'number' ? { timeoutMs: options } : options;
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body);
  return new Promise((resolve, reject) => {
    let replied = false;
    let settled = false;
    const fail = (err: Error) => {
      if (!settled) { settled = true; reject(err); }
    };
    const req: ClientRequest = request({
      socketPath,
      path: `/${method}`,
      method: 'POST',
      agent: false,
      headers: { Accept: DOCKER_PLUGIN_ACCEPT, 'Content-Length': String(payload.length), ...headers },
    });
    const timer = setTimeout(() => {
      req.destroy();
      fail(new Error(`${method}: no reply within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('response', (res: IncomingMessage) => {
      replied = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => fail(err));
      res.on('end', () => {
        clearTimeout(timer);
        req.destroy();
        const text = Buffer.concat(chunks).toString('utf8');
        if (!settled) { settled = true; resolve({ status: res.statusCode ?? 0, json: parseObject(text), text }); }
      });
    });
    req.on('error', (err) => {
      if (replied) return;
      setTimeout(() => {
        if (!replied) { clearTimeout(timer); fail(new Error(`${method}: ${err.message}`)); }
      }, GRACE_MS);
    });
    void writeInChunks(req, payload, () => replied);
  });
}

async function writeInChunks(req: ClientRequest, payload: Buffer, stop: () => boolean): Promise<void> {
  for (let offset = 0; offset < payload.length; offset += CHUNK) {
    if (stop() || req.destroyed) return;
    if (!req.write(payload.subarray(offset, offset + CHUNK))) {
      await new Promise<void>((done) => {
        const finish = () => { req.off('drain', finish); req.off('close', finish); done(); };
        req.once('drain', finish);
        req.once('close', finish);
      });
    }
  }
  if (!stop() && !req.destroyed) req.end();
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
