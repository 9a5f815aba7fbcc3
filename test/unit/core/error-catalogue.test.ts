import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { ERROR_CATALOGUE } from '../../../src/core/error-catalogue.js';
import { TsnetError, tsnetError } from '../../../src/core/errors.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'fixtures' ? [] : sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path] : [];
  });
}

describe('the error catalogue', () => {
  const used = new Set(['src', 'drivers', 'kvstore', 'plugin-spec'].flatMap(sources)
    .filter((f) => !f.endsWith('error-catalogue.ts'))
    .flatMap((f) => [...readFileSync(join(ROOT, f), 'utf8').matchAll(/'(TSNET_[A-Z0-9_]+)'/g)].map((m) => m[1] as string)));

  test('every code the sources raise is in it, and every code in it is raised somewhere', () => {
    const known = new Set(Object.keys(ERROR_CATALOGUE));
    expect([...used].filter((c) => !known.has(c)).sort()).toEqual([]);
    expect([...known].filter((c) => !used.has(c)).sort()).toEqual([]);
  });

  test('an error\'s kind and retryable come from it', () => {
    expect(tsnetError('TSNET_PORT_TAKEN', 'x')).toMatchObject({ kind: 'conflict', retryable: false });
    expect(new TsnetError('TSNET_IPAM_CONTENDED', 'x')).toMatchObject({ kind: 'unavailable', retryable: true });
    expect(new TsnetError('TSNET_KERNEL_UNSUPPORTED', 'x')).toMatchObject({ kind: 'unavailable', retryable: false });
    for (const [code, entry] of Object.entries(ERROR_CATALOGUE)) {
      expect(entry.meaning.length, code).toBeGreaterThan(10);
      // Only something outside the request (the host, etcd, load) can make a retry succeed.
      if (entry.retryable) expect(entry.kind, code).toBe('unavailable');
    }
  });
});
