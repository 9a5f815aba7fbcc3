import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type ExecResult } from './exec.js';
import { REPO, ensureBuilt } from './tsnet-daemon.js';

const LAB_SCRIPT = join(REPO, 'deploy/lab/lab.sh');

export interface Lab {
  readonly name: string;
  readonly etcdEndpoint: string;
  /** Where the lab keeps its PID files and logs. */
  readonly runDir: string;
  /** `lab.sh ARGS…` with this lab's environment. */
  lab(args: readonly string[], options?: { allowFail?: boolean; timeoutMs?: number }): Promise<ExecResult>;
  docker(host: string, args: readonly string[], options?: { allowFail?: boolean; timeoutMs?: number }): Promise<ExecResult>;
  /** A command in a host's namespace ("ul" is the underlay, where etcd runs). */
  exec(host: string, argv: readonly string[], options?: { allowFail?: boolean; timeoutMs?: number }): Promise<ExecResult>;
  down(): Promise<void>;
}

/**
 * The multi-host lab from deploy/lab/lab.sh, driven by tests, under a random name and private
 * directories so it never meets a user's own lab. The e2e overlay tests use the very script
 * users run, so the script is tested too.
 */
export async function startLab(hosts: number): Promise<Lab> {
  await ensureBuilt();
  const name = `tsnt${randomBytes(2).toString('hex')}`;
  const dir = await mkdtemp(join(tmpdir(), 'tsnet-lab-'));
  const env = { ...process.env, TSNET_LAB_NAME: name, TSNET_LAB_DIR: join(dir, 'run'), TSNET_LAB_DATA: join(dir, 'data') };
  const lab: Lab = {
    name,
    etcdEndpoint: 'http://198.19.10.254:2379',
    runDir: join(dir, 'run'),
    lab: (args, options = {}) => run(['bash', LAB_SCRIPT, ...args], { env, timeoutMs: options.timeoutMs ?? 180_000, allowFail: options.allowFail }),
    docker: (host, args, options) => lab.lab(['docker', host, ...args], options),
    exec: (host, argv, options = {}) => run(['ip', 'netns', 'exec', `${name}-${host}`, ...argv], { timeoutMs: options.timeoutMs ?? 60_000, allowFail: options.allowFail }),
    down: async () => {
      await lab.lab(['down'], { allowFail: true, timeoutMs: 180_000 });
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await lab.lab(['up', String(hosts)]);
  } catch (err) {
    await lab.down();
    throw err;
  }
  return lab;
}
