import { execFile } from 'node:child_process';

/**
 * Answers "does a network interface of this name exist?" in the namespace the plugin creates
 * its interfaces in (the host's, for a plugin Docker runs). The kit's only look at the kernel,
 * used by network.join-interface; injected so the kit's own tests need no kernel.
 */
export type LinkProbe = (name: string) => Promise<boolean>;

/**
 * A probe that runs `ip -json link show NAME`, in `netns` through `nsenter --net=PATH` (needs
 * root), or in the kit's own namespace when `netns` is `self`. Argument arrays, no shell, 5 s.
 */
export function ipLinkProbe(netns: string): LinkProbe {
  const argv = (name: string) => (netns === 'self' ? ['ip', '-json', 'link', 'show', name] : ['nsenter', `--net=${netns}`, 'ip', '-json', 'link', 'show', name]);
  return (name) => new Promise((resolve, reject) => {
    const [file, ...args] = argv(name) as [string, ...string[]];
    execFile(file, args, { timeout: 5_000 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout.trim().startsWith('['));
      // iproute2 says "Device "x" does not exist." (exit 1) for a missing link; anything else is the probe failing.
      if (/does not exist/.test(String(stderr))) return resolve(false);
      reject(new Error(`${[file, ...args].join(' ')}: ${String(stderr).trim() || err.message}`));
    });
  });
}

/** The interfaces of a namespace: every name, and the bridges among them. */
export interface LinkList {
  readonly all: readonly string[];
  readonly bridges: readonly string[];
}

/** Lists a namespace's interfaces (the real-Docker mode's before/after comparison); injected so tests need no kernel. */
export type LinkLister = () => Promise<LinkList>;

function runIp(netns: string, args: readonly string[]): Promise<string> {
  const argv = netns === 'self' ? ['ip', ...args] : ['nsenter', `--net=${netns}`, 'ip', ...args];
  return new Promise((resolve, reject) => {
    const [file, ...rest] = argv as [string, ...string[]];
    execFile(file, rest, { timeout: 5_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${argv.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });
}

/** Names in `ip -o link show` output: `3: veth1@if2: <…>` → `veth1`. */
export function parseIpOLink(output: string): string[] {
  return output.split('\n').map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1]).filter((n): n is string => n !== undefined).sort();
}

/** `ip -o link show` (and `… type bridge`), in `netns` through nsenter (root), or the kit's own for `self`. */
export function ipLinkLister(netns: string): LinkLister {
  return async () => ({
    all: parseIpOLink(await runIp(netns, ['-o', 'link', 'show'])),
    bridges: parseIpOLink(await runIp(netns, ['-o', 'link', 'show', 'type', 'bridge'])),
  });
}
