import { execFile } from 'node:child_process';

/** What the kit needs to know of an interface that exists. */
export interface LinkFacts {
  /** The bridge (or bond) it is a port of, if any: a container's end of a veth pair has none. */
  readonly master?: string;
}

/**
 * Looks up a network interface by name in the namespace the plugin creates its interfaces in
 * (the host's, for a plugin Docker runs): undefined when there is none. The kit's only look at
 * the kernel, used by network.join-interface; injected so the kit's own tests need no kernel.
 */
export type LinkProbe = (name: string) => Promise<LinkFacts | undefined>;

/**
 * A probe that runs `ip -json link show NAME`, in `netns` through `nsenter --net=PATH` (needs
 * root), or in the kit's own namespace when `netns` is `self`. Argument arrays, no shell, 5 s.
 */
export function ipLinkProbe(netns: string): LinkProbe {
  const argv = (name: string) => (netns === 'self' ? ['ip', '-json', 'link', 'show', name] : ['nsenter', `--net=${netns}`, 'ip', '-json', 'link', 'show', name]);
  return (name) => new Promise((resolve, reject) => {
    const [file, ...args] = argv(name) as [string, ...string[]];
    execFile(file, args, { timeout: 5_000 }, (err, stdout, stderr) => {
      if (!err) {
        try {
          const [link] = JSON.parse(String(stdout)) as Array<{ master?: unknown }>;
          return resolve(link ? { ...(typeof link.master === 'string' ? { master: link.master } : {}) } : undefined);
        } catch {
          return reject(new Error(`${[file, ...args].join(' ')} printed something that is not JSON: ${String(stdout).slice(0, 200)}`));
        }
      }
      // iproute2 says "Device "x" does not exist." (exit 1) for a missing link; anything else is the probe failing.
      if (/does not exist/.test(String(stderr))) return resolve(undefined);
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
