import type { DockerEngine } from '../docker/engine.js';
import { NO_NAMES, type DockerNames } from './views.js';

/**
 * Docker's names for tsnet's networks and for the containers on them, asked of the Docker API
 * when an operator asks for a view: outside any plugin call, so dockerd holds none of its locks
 * for tsnet. A Docker that cannot be asked gives no names; the views still show every id.
 */
export async function askDockerNames(docker: DockerEngine | undefined, networkIds: readonly string[]): Promise<DockerNames> {
  if (!docker || networkIds.length === 0) return NO_NAMES;
  try {
    const ours = new Set(networkIds);
    const listed = (await docker.networks()).filter((n) => ours.has(n.id));
    const networks = new Map(listed.map((n) => [n.id, n.name] as const));
    const endpoints = new Map<string, { containerId: string; name: string }>();
    for (const attached of await Promise.all(listed.map((n) => docker.endpoints(n.id).catch(() => undefined)))) {
      for (const e of attached ?? []) endpoints.set(e.endpointId, { containerId: e.containerId, name: e.name });
    }
    return { networks, endpoints };
  } catch {
    return NO_NAMES;
  }
}
