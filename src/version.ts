import { readFileSync } from 'node:fs';

/** tsnet's version, from its package.json: two levels up from dist/src/, one from src/ (tests). */
export function version(): string {
  for (const path of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tsnet' && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return 'unknown';
}
