import type { IncomingMessage } from 'node:http';

/** Past this, a connection is cut rather than drained: nothing Docker sends comes close. */
const DRAIN_LIMIT = 64 * 1024 * 1024;

/**
 * A body that stops arriving for this long is abandoned (408, connection closed). Docker writes
 * a whole request at once (its bodies are a few KiB), so any pause mid-body is a client that
 * stalled or died; the bound only has to outlast a daemon whose own event loop is held up on a
 * loaded host (GC, a burst of kernel calls), which is well under a second, hence 10 s and not
 * less. Before this, a stalled client held its connection and request state indefinitely.
 */
export const BODY_IDLE_TIMEOUT_MS = 10_000;

export class BodyError extends Error {
  constructor(message: string, readonly statusCode: number) {
    super(message);
  }
}

/**
 * The client closed its connection before the whole body arrived (ECONNRESET, "aborted",
 * premature close). That is an ordinary event (a dockerd restarting, a killed CLI), not a tsnet
 * fault: there is no one left to answer, and it is logged at info as outcome "client-gone".
 */
export class ClientGoneError extends Error {
  readonly code = 'TSNET_CLIENT_GONE';
}

export function isClientGone(err: unknown): err is ClientGoneError {
  return err instanceof ClientGoneError;
}

/** Socket-level errors that only mean "the peer went away". */
const GONE_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

/**
 * Reads a request body of any (or no) content type. An oversized body is read to its end and
 * discarded before the 413 is sent: closing the connection mid-upload would make the client's
 * write fail and could lose the reply. A body that stalls for `idleMs` is refused with 408; a
 * client that disconnects mid-body yields {@link ClientGoneError}. JSON parsing is left to the caller.
 */
export function readBody(stream: IncomingMessage, limit: number, idleMs: number = BODY_IDLE_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    let idle: NodeJS.Timeout | undefined;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      fn();
    };
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => settle(() => {
        const expected = stream.headers['content-length'];
        reject(new BodyError(`request body stalled: nothing arrived for ${idleMs / 1000} s after ${size}${expected ? ` of ${expected}` : ''} bytes; tsnet closed the connection`, 408));
      }), idleMs);
    };
    // The connection can end between the request's headers and this reader's start; then no
    // 'close' will come again, and waiting for one would keep the request forever.
    if (stream.destroyed) {
      reject(new ClientGoneError('client went away before its body was read'));
      return;
    }
    armIdle();
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (size > DRAIN_LIMIT) stream.destroy();
      if (!settled) armIdle();
    });
    stream.on('error', (err: NodeJS.ErrnoException) => settle(() => {
      reject(GONE_CODES.has(err.code ?? '') || err.message === 'aborted' ? new ClientGoneError(`client went away mid-body: ${err.message}`, { cause: err }) : err);
    }));
    stream.on('close', () => settle(() => {
      if (size > DRAIN_LIMIT) reject(new BodyError(`request body is larger than ${limit} bytes`, 413));
      // 'close' before 'end' (and without an error): the connection ended mid-body.
      else reject(new ClientGoneError(`client went away after ${size} bytes of the body`));
    }));
    stream.on('end', () => settle(() => {
      if (size > limit) reject(new BodyError(`request body is larger than ${limit} bytes`, 413));
      else resolve(Buffer.concat(chunks).toString('utf8'));
    }));
  });
}

export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BodyError(`request body is not valid JSON: ${(err as Error).message}`, 400);
  }
}
