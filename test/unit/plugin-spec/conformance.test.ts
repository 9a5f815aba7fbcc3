import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { pluginConformance, postPlugin } from '../../support/protocol-contract.js';
import { formatZodIssues } from '../../../plugin-spec/format.js';
import { isMethodName, methods, type MethodName } from '../../../plugin-spec/methods.js';

/** Like tsnet's API layer: 1 MiB body limit, then JSON, then the method's schema. */
const LIMIT = 1024 * 1024;

/** Replies of the argument-less methods; the suite sends every other method only bad input. */
const canned: Partial<Record<MethodName, unknown>> = {
  'Plugin.Activate': { Implements: ['NetworkDriver', 'IpamDriver'] },
  // As tsnet and any Docker 28+ plugin answer; the suite must accept what dockerd accepts.
  'NetworkDriver.GetCapabilities': { Scope: 'local', ConnectivityScope: 'local', GwAllocChecker: true },
  'IpamDriver.GetCapabilities': { RequiresMACAddress: false, RequiresRequestReplay: false },
  'IpamDriver.GetDefaultAddressSpaces': { LocalDefaultAddressSpace: 'stub-local', GlobalDefaultAddressSpace: 'stub-global' },
};

/**
 * A tiny plugin that follows tsnet's error-reply contract using only the plugin-spec schemas,
 * so the conformance suite itself is exercised without the daemon.
 */
function stubPlugin(seen: IncomingHttpHeaders[]): Server {
  return createServer((req, res) => {
    seen.push(req.headers);
    const method = (req.url ?? '/').slice(1);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/vnd.docker.plugins.v1+json' });
      res.end(JSON.stringify(body));
    };
    if (Number(req.headers['content-length'] ?? 0) > LIMIT) {
      // Answer at once and let the connection close, as Fastify does: the client must cope.
      send(413, { Err: `request body is larger than ${LIMIT} bytes` });
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (!isMethodName(method)) return send(404, { Err: `tsnet does not implement ${method}` });
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text.trim() === '' ? undefined : JSON.parse(text);
      } catch (err) {
        return send(400, { Err: `request body is not valid JSON: ${(err as Error).message}` });
      }
      const parsed = methods[method].request.safeParse(body);
      if (!parsed.success) return send(400, { Err: `${method}: ${formatZodIssues(parsed.error)}` });
      return send(200, canned[method] ?? {});
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'tsnet-conformance-'));
const socketPath = join(dir, 'stub.sock');
const seen: IncomingHttpHeaders[] = [];
let server: Server;

beforeAll(async () => {
  server = stubPlugin(seen);
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe('with tsnet\'s exact contract', () => {
  pluginConformance({ socketPath: () => socketPath, implements: ['NetworkDriver', 'IpamDriver'] });
});

describe('with only Docker\'s rules, interfaces taken from Activate', () => {
  pluginConformance({ socketPath: () => socketPath, contract: 'docker' });
});

describe('postPlugin calls like dockerd', () => {
  test('Accept, Content-Length, and no Content-Type', async () => {
    seen.length = 0;
    const reply = await postPlugin(socketPath, 'Plugin.Activate', undefined, 2_000);
    expect(reply).toMatchObject({ status: 200, json: { Implements: ['NetworkDriver', 'IpamDriver'] } });
    expect(seen[0]).toMatchObject({ accept: 'application/vnd.docker.plugins.v1.2+json', 'content-length': '0' });
    expect(seen[0]?.['content-type']).toBeUndefined();
  });

  test('extra headers are sent, and a body that is not a JSON object gives json undefined', async () => {
    seen.length = 0;
    const reply = await postPlugin(socketPath, 'NetworkDriver.CreateNetwork', '{"NetworkID": ', { headers: { 'Content-Type': 'application/json' }, timeoutMs: 2_000 });
    expect(seen[0]?.['content-type']).toBe('application/json');
    expect(reply.status).toBe(400);
    expect(reply.json?.Err).toMatch(/^request body is not valid JSON/);
  });

  test('a socket nobody listens on is an error, not a hang', async () => {
    await expect(postPlugin(join(dir, 'absent.sock'), 'Plugin.Activate', undefined, 2_000)).rejects.toThrow(/Plugin.Activate: .*ENOENT/);
  });
});
