import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './exec.js';
import { DOCKER_CLIENT, type SimulatedHost } from './dockerd.js';

/** The test image every e2e test runs: busybox-static with applet links. */
export const TEST_IMAGE = 'tsbox:latest';
/** Debian's busybox-static. */
export const BUSYBOX = '/bin/busybox';

/**
 * Applets linked into the image (only those this busybox has are linked). Debian's static
 * busybox `wget` crashes, so HTTP-ish checks use `nc`.
 */
const WANTED_APPLETS = [
  'sh', 'ip', 'ping', 'ping6', 'nc', 'sleep', 'cat', 'hostname', 'true', 'false', 'ifconfig', 'route', 'arp',
  'echo', 'ls', 'grep', 'awk', 'sed', 'wc', 'env', 'ps', 'kill', 'seq', 'head', 'tail', 'tr', 'cut', 'printf',
  'timeout', 'date', 'usleep', 'netstat', 'nslookup', 'traceroute', 'httpd', 'test', 'mkdir', 'rm', 'touch',
  'sysctl', 'udhcpc', 'id', 'uname', 'which', 'chroot',
];

/**
 * Makes sure `tsbox:latest` exists in the host's dockerd and returns its name. There is no
 * registry here: a rootfs with /bin/busybox, its applet links, /tmp and /etc
 * (Docker writes hosts, hostname and resolv.conf) goes through `tar | docker import`, with
 * `CMD ["sh"]` as the default command. Cheap when the image is already there.
 */
export async function ensureTestImage(host: SimulatedHost): Promise<string> {
  if ((await host.docker(['image', 'inspect', TEST_IMAGE], { allowFail: true })).code === 0) return TEST_IMAGE;
  const available = new Set((await run([BUSYBOX, '--list'])).stdout.split('\n'));
  const root = await mkdtemp(join(tmpdir(), 'tsbox-'));
  try {
    for (const d of ['bin', 'tmp', 'etc', 'proc', 'sys', 'dev']) await mkdir(join(root, d));
    await copyFile(BUSYBOX, join(root, 'bin', 'busybox'));
    for (const applet of WANTED_APPLETS.filter((a) => available.has(a))) await symlink('busybox', join(root, 'bin', applet));
    await pipeImport(root, host.socketPath);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return TEST_IMAGE;
}

/** `tar -C root -c . | docker -H unix://sock import -c 'CMD ["sh"]' - tsbox:latest`, without a shell. */
async function pipeImport(root: string, socketPath: string): Promise<void> {
  const tar = spawn('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', root, '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const imp = spawn(DOCKER_CLIENT, ['-H', `unix://${socketPath}`, 'import', '-c', 'CMD ["sh"]', '-', TEST_IMAGE], { stdio: ['pipe', 'ignore', 'pipe'] });
  let errors = '';
  tar.stderr.on('data', (c: Buffer) => (errors += c.toString()));
  imp.stderr.on('data', (c: Buffer) => (errors += c.toString()));
  imp.stdin.on('error', () => undefined);
  tar.stdout.pipe(imp.stdin);
  const ended = (child: typeof tar | typeof imp) =>
    new Promise<number>((resolve) => {
      child.on('error', (err) => {
        errors += `${err.message}\n`;
        resolve(-1);
      });
      child.on('close', (code) => resolve(code ?? -1));
    });
  const [tarCode, importCode] = await Promise.all([ended(tar), ended(imp)]);
  if (tarCode !== 0 || importCode !== 0) {
    throw new Error(`building ${TEST_IMAGE}: tar exited ${tarCode}, docker import exited ${importCode}: ${errors.trim()}`);
  }
}
