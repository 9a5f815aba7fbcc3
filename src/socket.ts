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

/**
 * Listens on a root-only socket (0600, its directory 0700 when tsnet makes it): the admin API
 * shows every network, address and published port of the host. The umask covers the bind
 * itself, so the socket is never reachable with a looser mode, not even for a moment.
 */
export async function listenRootOnly(listen: () => Promise<unknown>, socketPath: string): Promise<void> {
  await mkdir(dirname(socketPath), { recursive: true, mode: 0o700 });
  await prepareSocketPath(socketPath);
  const previous = process.umask(0o177);
  try {
    await listen();
  } finally {
    process.umask(previous);
  }
  await chmod(socketPath, 0o600);
}
