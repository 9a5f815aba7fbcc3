import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterEach, describe, expect, test } from 'vitest';
import { z } from 'zod';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../src/api/app.js';
import { closePromptly } from '../../../src/api/prompt-close.js';

/**
 * A daemon's stop must not wait on its clients' connections: before this, a connection that was
 * open with no request, or mid-request when the stop began, held Fastify's close for the whole
 * 72 s keep-alive, and the supervisor SIGKILLed tsnet (CI, crash.test.ts).
 */

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Far beyond any grace period used here and far below the 72 s keep-alive that used to hold a stop. */
const HUNG_AFTER_MS = 8_000;

async function start(handlerMs: number): Promise<{ app: FastifyInstance; socketPath: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tsnet-close-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const app = buildApp({ log: pino({ level: 'silent' }), ready: Promise.resolve(), handlerTimeoutMs: 30_000, bodyLimit: 1024 * 1024 }, (define) => {
    define('NetworkDriver.CreateNetwork', z.object({ NetworkID: z.string() }).loose(), async () => {
      await sleep(handlerMs);
      return {};
    });
  });
  const socketPath = join(dir, 'tsnet.sock');
  await app.listen({ path: socketPath });
  cleanups.push(() => app.close());
  return { app, socketPath };
}

async function rawClient(socketPath: string): Promise<{ socket: Socket; received: () => string; ended: Promise<void> }> {
  const socket = connect(socketPath);
  cleanups.push(() => { socket.destroy(); });
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  let text = '';
  socket.on('data', (c: Buffer) => { text += c.toString(); });
  socket.on('error', () => undefined);
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, received: () => text, ended };
}

const BODY = '{"NetworkID":""}';
const REQUEST = `POST /NetworkDriver.CreateNetwork HTTP/1.1\r\nHost: tsnet\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`;

async function outcome(closing: Promise<void>): Promise<'closed' | 'hung'> {
  return Promise.race([closing.then(() => 'closed' as const), sleep(HUNG_AFTER_MS).then(() => 'hung' as const)]);
}

describe('closePromptly: a stop is not held up by client connections', () => {
  test('a connection open with no request yet is cut', async () => {
    const { app, socketPath } = await start(0);
    const client = await rawClient(socketPath);
    expect(await outcome(closePromptly(app, 5_000))).toBe('closed');
    await client.ended;
    expect(client.received()).toBe('');
  });

  test('a keep-alive connection that has been answered is cut', async () => {
    const { app, socketPath } = await start(0);
    const client = await rawClient(socketPath);
    client.socket.write(REQUEST);
    while (!client.received().includes('\r\n\r\n')) await sleep(10);
    expect(client.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(await outcome(closePromptly(app, 5_000))).toBe('closed');
    await client.ended;
  });

  test('a call in flight when the stop begins gets its answer, with Connection: close, then the connection ends', async () => {
    const { app, socketPath } = await start(300);
    const client = await rawClient(socketPath);
    client.socket.write(REQUEST);
    await sleep(50); // the handler is now running
    expect(await outcome(closePromptly(app, 5_000))).toBe('closed');
    await client.ended;
    expect(client.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(client.received().toLowerCase()).toContain('connection: close');
  });

  test('a call that outlasts the grace period is cut when the grace period ends', async () => {
    const { app, socketPath } = await start(60_000);
    const client = await rawClient(socketPath);
    client.socket.write(REQUEST);
    await sleep(50);
    expect(await outcome(closePromptly(app, 200))).toBe('closed');
    await client.ended;
    expect(client.received()).toBe('');
  });
});
