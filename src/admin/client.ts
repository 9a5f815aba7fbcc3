import { request } from 'node:http';
import { TsnetError } from '../core/errors.js';

const TIMEOUT_MS = 10_000;

/** GETs one admin view as JSON; a refusal (404, 503) becomes a TsnetError with the daemon's words. */
export function getAdmin(socketPath: string, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET', headers: { host: 'tsnet' }, timeout: TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          reject(new TsnetError('TSNET_ADMIN_REPLY', `the admin API at ${socketPath} answered something that is not JSON: ${text.slice(0, 120)}`, 'is another program listening there?'));
          return;
        }
        if (res.statusCode === 200) resolve(body);
        else {
          const { error, hint } = (body ?? {}) as { error?: string; hint?: string };
          reject(new TsnetError('TSNET_ADMIN_REFUSED', error ?? `the admin API answered ${res.statusCode}`, hint));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'no tsnet daemon serves it' : err.code === 'EACCES' ? 'permission denied (the admin API is for root)' : err.message;
      reject(new TsnetError('TSNET_ADMIN_UNREACHABLE', `cannot reach the tsnet admin API at ${socketPath}: ${why}`,
        err.code === 'EACCES' ? 'run the command as root' : 'start it (systemctl start tsnet, or tsnet daemon), or pass the daemon\'s --admin-socket / --state-dir'));
    });
    req.end();
  });
}
