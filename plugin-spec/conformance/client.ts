import { request } from 'node:http';

export interface PluginReply {
  readonly status: number;
  readonly json: Record<string, unknown> | undefined;
  readonly text: string;
}

/**
 * One protocol call exactly as dockerd makes it: POST over the unix socket with only an Accept
 * header and no Content-Type. `body` is sent verbatim; undefined sends an empty body.
 */
export function postPlugin(socketPath: string, method: string, body?: string | Buffer, timeoutMs = 30_000): Promise<PluginReply> {
  return new Promise((resolve, reject) => {
    const req = request({
      socketPath, path: `/${method}`, method: 'POST', timeout: timeoutMs,
      headers: { Accept: 'application/vnd.docker.plugins.v1.2+json', 'Content-Length': body === undefined ? 0 : Buffer.byteLength(body) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: Record<string, unknown> | undefined;
        try { json = JSON.parse(text) as Record<string, unknown>; } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, json, text });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
