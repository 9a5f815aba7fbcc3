import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { DAEMON_ENV, DAEMON_NODE_FLAGS, missingNodeFlags } from '../../../src/core/node-flags.js';

const REPO = join(import.meta.dirname, '..', '..', '..');
const read = (path: string) => readFileSync(join(REPO, path), 'utf8');

describe('the daemon\'s node flags', () => {
  test('are missing when node was started without them, found in the command line or NODE_OPTIONS', () => {
    expect(missingNodeFlags([])).toEqual([...DAEMON_NODE_FLAGS]);
    expect(missingNodeFlags([...DAEMON_NODE_FLAGS])).toEqual([]);
    expect(missingNodeFlags(['--inspect'], `--trace-warnings ${DAEMON_NODE_FLAGS.join(' ')}`)).toEqual([]);
  });

  test('the environment\'s settings are missing when absent or different, named as NAME=VALUE', () => {
    expect(missingNodeFlags([...DAEMON_NODE_FLAGS], '', {})).toEqual(['MALLOC_ARENA_MAX=2', 'MALLOC_MMAP_THRESHOLD_=16384', 'MALLOC_TRIM_THRESHOLD_=65536']);
    expect(missingNodeFlags([...DAEMON_NODE_FLAGS], '', { ...DAEMON_ENV, MALLOC_ARENA_MAX: '8' })).toEqual(['MALLOC_ARENA_MAX=2']);
    expect(missingNodeFlags([...DAEMON_NODE_FLAGS], '', { ...DAEMON_ENV, PATH: '/bin' })).toEqual([]);
  });

  // One flag list, four launchers: each line that starts the daemon must carry every flag.
  test.each([
    ['deploy/tsnet.service', /^ExecStart=.*daemon.*$/m],
    ['deploy/plugin/build.sh', /^\s*entrypoint: \[.*'daemon'.*$/m],
    ['deploy/lab/lab.sh', /^.*start_bg "\$h-tsnet".*$/m],
  ])('%s starts the daemon with them', (file, line) => {
    const launch = line.exec(read(file))?.[0];
    expect(launch, `no daemon command line found in ${file}`).toBeDefined();
    for (const flag of DAEMON_NODE_FLAGS) expect(launch).toContain(flag);
  });

  test.each([
    ['deploy/tsnet.service', /^Environment=(.*)$/m],
    ['deploy/plugin/build.sh', /^\s*env: \[[^\]]*\]/m],
    ['deploy/lab/lab.sh', /^.*start_bg "\$h-tsnet".*$/m],
    ['deploy/install.sh', /^.*nohup node .*daemon.*$/m],
  ])('%s gives the daemon its environment', (file, line) => {
    const found = line.exec(read(file));
    expect(found, `no daemon environment found in ${file}`).not.toBeNull();
    // The plugin's config lists each setting as fixed('NAME', 'VALUE', …).
    const text = file === 'deploy/plugin/build.sh' ? found?.[0].replace(/fixed\('(\w+)', '([^']*)'/g, '$1=$2') : found?.[0];
    for (const [name, value] of Object.entries(DAEMON_ENV)) expect(text).toContain(`${name}=${value}`);
  });

  test('install.sh starts the daemon without systemd with the same flags', () => {
    const launch = /^.*nohup node .*daemon.*$/m.exec(read('deploy/install.sh'))?.[0];
    for (const flag of DAEMON_NODE_FLAGS) expect(launch).toContain(flag);
  });

  test('the test harness starts the daemon with them', () => {
    expect(read('test/support/tsnet-daemon.ts')).toContain('[process.execPath, ...DAEMON_NODE_FLAGS, CLI, \'daemon\'');
    expect(read('test/support/tsnet-daemon.ts')).toContain('env: { ...process.env, ...DAEMON_ENV, ...options.env }');
  });
});
