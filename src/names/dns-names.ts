import type { DockerAttachment } from '../docker/engine.js';

/** DNS limits (RFC 1035): a label, and a whole name in text form without the final dot. */
const MAX_LABEL = 63;
const MAX_NAME = 253;
/** Bounds one endpoint's record in etcd; Docker users give a container a handful of aliases. */
const MAX_NAMES = 32;

/**
 * The names a container answers to on one network, as Docker's embedded DNS gives them: the
 * container's name, its `--network-alias` values and, from dockerd 25, the DNSNames Docker lists
 * (which adds the short id). Lower case, since DNS compares names without case. The container's
 * name comes first, since a reverse lookup answers with it (as Docker's DNS does), the others
 * sorted, so a record only changes when the names do. A name that no DNS query can carry (a
 * label longer than 63 bytes, a name over 253, an empty label) is left out: Docker's DNS cannot
 * answer it either.
 */
export function dnsNamesOf(containerName: string, attachment: Pick<DockerAttachment, 'aliases' | 'dnsNames'>): string[] {
  const normal = (raw: string) => raw.toLowerCase().replace(/\.$/, '');
  const own = normal(containerName);
  const others = new Set<string>();
  for (const raw of [...attachment.aliases, ...attachment.dnsNames]) {
    const name = normal(raw);
    if (name !== own && isQueryable(name)) others.add(name);
  }
  return [...(isQueryable(own) ? [own] : []), ...[...others].sort()].slice(0, MAX_NAMES);
}

export function isQueryable(name: string): boolean {
  if (name.length === 0 || Buffer.byteLength(name) > MAX_NAME) return false;
  return name.split('.').every((label) => label.length > 0 && Buffer.byteLength(label) <= MAX_LABEL);
}
