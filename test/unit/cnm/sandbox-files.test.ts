import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { sandboxFileCheck } from '../../../src/cnm/sandbox-files.js';

const dirs: string[] = [];
afterEach(() => { for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true }); });

/** A fake Docker exec-root with one sandbox file, `netns/live`. */
function execRoot(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsnet-sandbox-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'netns'));
  writeFileSync(join(dir, 'netns', 'live'), '');
  return dir;
}

describe('sandboxFileCheck', () => {
  test('at the SandboxKey\'s own path: present, gone, and a directory tsnet cannot see', () => {
    const root = execRoot();
    const exists = sandboxFileCheck();
    expect(exists(join(root, 'netns', 'live'))).toBe(true);
    expect(exists(join(root, 'netns', 'gone'))).toBe(false);
    expect(exists(join(root, 'elsewhere', 'gone'))).toBe(true); // nothing known: taken to exist
  });

  test('through a mount of Docker\'s netns directory elsewhere (the managed plugin)', () => {
    const seenAt = join(execRoot(), 'netns');
    const exists = sandboxFileCheck(seenAt);
    // Docker's own path, which does not exist in tsnet's mount namespace.
    expect(exists('/var/run/docker/netns/live')).toBe(true);
    expect(exists('/var/run/docker/netns/gone')).toBe(false);
    // Before Docker made its netns directory (no container yet), nothing is known.
    expect(sandboxFileCheck(join(seenAt, 'missing'))('/var/run/docker/netns/gone')).toBe(true);
  });
});
