import { connect } from 'node:net';
import { chmod, mkdir, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { tsnetError } from './core/errors.js';

/**
 * Makes the socket path usable: refuses when another live process answers on it (a second
 * tsnet would steal Docker's connection), removes a stale file left by a crash.
 */
export async function prepareSocketPath(socketPath: string): Promise<void> {
  await mkdir(dirname(socketPath), { recursive: true });
  const exists = await stat(socketPath).then(() => true, () => false);
  if (!exists) return;
  if (await isListening(socketPath)) {
    throw tsnetError('TSNET_SOCKET_BUSY', `another process is already serving ${socketPath}`, 'stop the other tsnet daemon first, or pass a different --socket');
  }
  await unlink(socketPath);
}

function isListening(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Docker (root) connects; 0660 keeps other local users out of the plugin API. The server binds
 * the socket already 0660 (src/api/http-server.ts `withSocketUmask`, which says why chmod alone
 * is not enough); this keeps the mode right whatever bound it.
 */
export async function restrictSocket(socketPath: string): Promise<void> {
  await chmod(socketPath, 0o660);
}
