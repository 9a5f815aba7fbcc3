import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Whether the sandbox file of a SandboxKey (`EXEC_ROOT/netns/ID`, made by Docker) still
 * exists, looked up in `netnsDir` when tsnet sees Docker's netns directory elsewhere (the
 * managed plugin's mount). A directory that cannot be seen at all tells nothing, so the sandbox
 * is then taken to exist: a daemon in another mount namespace must not think every container dead.
 */
export function sandboxFileCheck(netnsDir?: string): (sandboxKey: string) => boolean {
  return (sandboxKey) => {
    const dir = netnsDir ?? dirname(sandboxKey);
    return existsSync(join(dir, basename(sandboxKey))) || !existsSync(dir);
  };
}
