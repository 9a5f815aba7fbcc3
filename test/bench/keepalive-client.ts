import { connect, type Socket } from 'node:net';

/**
 * A lean plugin client for benchmarks: persistent connections (as dockerd's Go client keeps)
 * and minimal HTTP/1.1 framing, so the benchmark process, which shares the machine's cores
 * with the daemon, spends as little CPU as possible and the daemon is what gets measured.
 */
export function keepAliveClient(socketPath: string, maxSockets = 64) {
  const idle: Connection[] = [];
  const all: Connection[] = [];
  const waiting: Array<(c: Connection) => void> = [];
  const acquire = (): Promise<Connection> => {
    const free = idle.pop();
    if (free) return Promise.resolve(free);
    if (all.length < maxSockets) {
      const c = new Connection(socketPath);
      all.push(c);
      return Promise.resolve(c);
    }
    return new Promise((resolve) => waiting.push(resolve));
  };
  const releaseConn = (c: Connection) => {
    const next = waiting.shift();
    if (next) next(c);
    else idle.push(c);
  };
  const post = async (method: string, body: unknown): Promise<Record<string, unknown>> => {
    const c = await acquire();
    try {
      const { status, text } = await c.post(method, JSON.stringify(body));
      const json = JSON.parse(text || '{}') as Record<string, unknown>;
      if (status !== 200 || json.Error || json.Err) throw new Error(`${method}: ${text}`);
      return json;
    } finally {
      releaseConn(c);
    }
  };
  return { post, close: () => all.forEach((c) => c.close()) };
}

class Connection {
  private readonly socket: Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private pending?: { resolve: (r: { status: number; text: string }) => void; reject: (e: Error) => void };

  constructor(socketPath: string) {
    this.socket = connect(socketPath);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => this.pending?.reject(err));
  }

  post(method: string, body: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.write(`POST /${method} HTTP/1.1\r\nHost: plugin\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    const headerEnd = this.buffer.indexOf('\r\n\r\n');
    if (headerEnd < 0) return;
    const head = this.buffer.subarray(0, headerEnd).toString('latin1');
    const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buffer.length < headerEnd + 4 + length) return;
    const text = this.buffer.subarray(headerEnd + 4, headerEnd + 4 + length).toString('utf8');
    this.buffer = this.buffer.subarray(headerEnd + 4 + length);
    const status = Number(head.slice(9, 12));
    const pending = this.pending;
    this.pending = undefined;
    pending?.resolve({ status, text });
  }
}
