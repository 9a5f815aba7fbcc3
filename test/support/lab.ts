import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertDockerUnderTestPresent, DOCKER_CLIENT, DOCKERD, DOCKERD_PATH } from './dockerd.js';
import { run, type ExecResult } from './exec.js';
import { isAlive } from './process.js';
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
  /** tsnet's state directory on a lab host (lab.sh: $TSNET_LAB_DATA/HOST/tsnet): the CLI finds its admin socket by it. */
  stateDir(host: string): string;
  /** PID of what the lab started as `name` (`h2-tsnet`, `h1-dockerd`, `etcd`), from its PID file. */
  pid(name: string): Promise<number>;
  /**
   * `lab.sh down`, then removal of the lab's directory. Rejects, after doing all of it, when
   * lab.sh reports something left or fails, or when a process the lab started (by the PIDs in
   * its PID files) or one of its namespaces is still there.
   */
  down(): Promise<void>;
}

/**
 * The multi-host lab from deploy/lab/lab.sh, driven by tests, under a random name and private
 * directories so it never meets a user's own lab. The e2e overlay tests use the very script
 * users run, so the script is tested too. The Docker it runs is the dockerd under test
 * (`TSNET_E2E_DOCKER`, see dockerd.ts), with its client and tool PATH, the ones the simulated
 * hosts use, whatever else is on this PATH.
 */
export async function startLab(hosts: number): Promise<Lab> {
  assertDockerUnderTestPresent();
  await ensureBuilt();
  const name = `tsnt${randomBytes(2).toString('hex')}`;
  const dir = await mkdtemp(join(tmpdir(), 'tsnet-lab-'));
  const runDir = join(dir, 'run');
  const env = {
    ...process.env,
    TSNET_LAB_NAME: name,
    TSNET_LAB_DIR: runDir,
    TSNET_LAB_DATA: join(dir, 'data'),
    TSNET_LAB_DOCKERD: DOCKERD,
    TSNET_LAB_DOCKER: DOCKER_CLIENT,
    TSNET_LAB_PATH: DOCKERD_PATH,
  };
  /**
   * Every process the lab has written to a PID file (PID → start time), so down() can check
   * that each is gone; the start time tells it from a later process that reused the PID.
   */
  const started = new Map<string, { pid: number; since: string }>();
  const rememberPids = async () => {
    for (const file of await readdir(runDir).catch(() => [])) {
      if (!file.endsWith('.pid')) continue;
      const pid = Number((await readFile(join(runDir, file), 'utf8').catch(() => '')).trim());
      if (!Number.isInteger(pid) || pid <= 0) continue;
      const since = await startTime(pid);
      if (since) started.set(`${pid}@${since}`, { pid, since });
    }
  };
  const namespaces = async () =>
    (await run(['ip', 'netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(`${name}-`));

  let downing: Promise<void> | undefined;
  const lab: Lab = {
    name,
    etcdEndpoint: 'http://198.19.10.254:2379',
    runDir,
    stateDir: (host) => join(env.TSNET_LAB_DATA, host, 'tsnet'),
    lab: async (args, options = {}) => {
      try {
        return await run(['bash', LAB_SCRIPT, ...args], { env, timeoutMs: options.timeoutMs ?? 180_000, allowFail: options.allowFail });
      } finally {
        await rememberPids();
      }
    },
    docker: (host, args, options) => lab.lab(['docker', host, ...args], options),
    exec: (host, argv, options = {}) => run(['ip', 'netns', 'exec', `${name}-${host}`, ...argv], { timeoutMs: options.timeoutMs ?? 60_000, allowFail: options.allowFail }),
    pid: async (what) => {
      const pid = Number((await readFile(join(runDir, `${what}.pid`), 'utf8')).trim());
      if (!Number.isInteger(pid) || pid <= 0) throw new Error(`${runDir}/${what}.pid holds no PID`);
      return pid;
    },
    down: () => {
      downing ??= (async () => {
        const problems: string[] = [];
        await rememberPids();
        const result = await run(['bash', LAB_SCRIPT, 'down'], { env, timeoutMs: 300_000, allowFail: true })
          .catch((err: unknown) => ({ code: -1, stdout: '', stderr: err instanceof Error ? err.message : String(err) }));
        if (result.code !== 0) problems.push(`lab.sh down exited with code ${result.code}: ${result.stderr.trim()}`);
        // lab.sh's own account is checked from outside, by what the lab itself recorded.
        const alive: number[] = [];
        for (const { pid, since } of started.values()) if (isAlive(pid) && (await startTime(pid)) === since) alive.push(pid);
        if (alive.length > 0) problems.push(`processes the lab started are still running: ${alive.join(', ')}`);
        const left = await namespaces().catch((err: unknown) => [`(ip netns list failed: ${String(err)})`]);
        if (left.length > 0) problems.push(`namespaces are left: ${left.join(', ')}`);
        await rm(dir, { recursive: true, force: true }).catch((err: unknown) => problems.push(`could not remove ${dir}: ${String(err)}`));
        if (existsSync(dir)) problems.push(`directory ${dir} is left`);
        if (problems.length > 0) throw new Error(`lab ${name} teardown left things behind:\n- ${problems.join('\n- ')}`);
      })();
      return downing;
    },
  };
  try {
    await lab.lab(['up', String(hosts)]);
  } catch (err) {
    const teardown = await lab.down().then(() => '', (e: unknown) => `\n(and its teardown failed too: ${e instanceof Error ? e.message : String(e)})`);
    throw new Error(`${err instanceof Error ? err.message : String(err)}${teardown}`, { cause: err });
  }
  return lab;
}

/** Field 22 of /proc/PID/stat, the process's start time in clock ticks; undefined once it is gone. */
async function startTime(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat?.replace(/^.*\) /s, '').split(' ')[19];
}
