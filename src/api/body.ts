import type { IncomingMessage } from 'node:http';

/** Past this, a connection is cut rather than drained: nothing Docker sends comes close. */
const DRAIN_LIMIT = 64 * 1024 * 1024;

export class BodyError extends Error {
  constructor(message: string, readonly statusCode: number) {
    super(message);
  }
}

/**
 * Reads a request body of any (or no) content type. An oversized body is read to its end and
 * discarded before the 413 is sent: closing the connection mid-upload would make the client's
 * write fail and could lose the reply. JSON parsing is left to the caller.
 */
export function readBody(stream: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (size > DRAIN_LIMIT) stream.destroy();
    });
    stream.on('error', reject);
    stream.on('close', () => {
      if (size > DRAIN_LIMIT) reject(new BodyError(`request body is larger than ${limit} bytes`, 413));
    });
    stream.on('end', () => {
      if (size > limit) reject(new BodyError(`request body is larger than ${limit} bytes`, 413));
      else resolve(Buffer.concat(chunks).toString('utf8'));
    });
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
