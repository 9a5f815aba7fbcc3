import { mkdtemp, mkdir, copyFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import type { SimulatedHost } from './sim-host.js';
import { DOCKER_CLIENT } from './sim-host.js';

export const TEST_IMAGE = 'tsbox:latest';
const APPLETS = ['sh', 'ip', 'ping', 'nc', 'sleep', 'cat', 'hostname', 'true', 'ifconfig', 'route', 'arp', 'echo', 'ls', 'grep', 'awk', 'sed', 'wc', 'env', 'ps', 'kill', 'seq', 'head', 'tail', 'tr', 'cut', 'printf', 'timeout', 'date', 'usleep', 'chroot', 'netstat', 'nslookup'];

/**
 * There is no registry here: the test image is busybox-static in a rootfs with applet symlinks,
 * imported with `docker import` (DESIGN.md §3). Built once per simulated host.
 */
export async function ensureTestImage(host: SimulatedHost): Promise<string> {
  if ((await host.docker(['image', 'inspect', TEST_IMAGE], { allowFail: true })).code === 0) return TEST_IMAGE;
  const root = await mkdtemp(join(tmpdir(), 'tsbox-'));
  try {
    await mkdir(join(root, 'bin'));
    await mkdir(join(root, 'tmp'));
    await mkdir(join(root, 'etc'));
    await copyFile('/bin/busybox', join(root, 'bin', 'busybox'));
    for (const applet of APPLETS) await symlink('busybox', join(root, 'bin', applet));
    await new Promise<void>((resolve, reject) => {
      const tar = spawn('tar', ['-C', root, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const imp = spawn(DOCKER_CLIENT, ['-H', `unix://${join(host.dir, 'docker.sock')}`, 'import', '-c', 'CMD ["sh"]', '-', TEST_IMAGE], { stdio: ['pipe', 'ignore', 'inherit'] });
      tar.stdout.pipe(imp.stdin);
      imp.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`docker import exited ${code}`))));
      tar.on('error', reject);
      imp.on('error', reject);
    });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return TEST_IMAGE;
}
