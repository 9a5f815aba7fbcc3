import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { DAEMON_NODE_FLAGS, missingNodeFlags } from '../../../src/core/node-flags.js';

const REPO = join(import.meta.dirname, '..', '..', '..');
const read = (path: string) => readFileSync(join(REPO, path), 'utf8');

describe('the daemon\'s node flags', () => {
  test('are missing when node was started without them, found in the command line or NODE_OPTIONS', () => {
    expect(missingNodeFlags([])).toEqual([...DAEMON_NODE_FLAGS]);
    expect(missingNodeFlags([...DAEMON_NODE_FLAGS])).toEqual([]);
    expect(missingNodeFlags(['--inspect'], `--trace-warnings ${DAEMON_NODE_FLAGS.join(' ')}`)).toEqual([]);
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

  test('the test harness starts the daemon with them', () => {
    expect(read('test/support/tsnet-daemon.ts')).toContain('[process.execPath, ...DAEMON_NODE_FLAGS, CLI, \'daemon\'');
  });
});
