import { describe, expect, test } from 'vitest';
import { useOneHost } from '../support/one-host.js';
import { DOCKER_MAJOR } from '../support/sim-host.js';

// The null type (-o tsnet.type=null) through a real dockerd: containers that bring their own
// networking get only `lo`, and Docker attaches no docker_gwbridge to them.

const { host: h, image: testImage, docker, tryDocker, hostLinks } = useOneHost('null');

describe('null networks (-o tsnet.type=null)', () => {
  test('a container on a null network has only lo, no docker_gwbridge, and the host gains no link', async () => {
    const before = await hostLinks();
    await docker('network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=null', '--subnet', '10.237.0.0/24', 'nul');
    await docker('run', '-d', '--name', 'n1', '--network', 'nul', testImage(), 'sleep', '600');
    const links = (await docker('exec', 'n1', 'ip', '-o', 'link')).stdout.split('\n').filter(Boolean);
    expect(links.map((l) => l.split(': ')[1])).toEqual(['lo']);
    const networks = Object.keys(JSON.parse((await docker('inspect', '-f', '{{json .NetworkSettings.Networks}}', 'n1')).stdout) as Record<string, unknown>);
    expect(networks).toEqual(['nul']);
    expect((await docker('network', 'ls', '--format', '{{.Name}}')).stdout).not.toContain('docker_gwbridge');
    expect(await hostLinks()).toEqual(before);
    // Positive control: the same container on a tsnet bridge network gets an interface.
    await docker('network', 'create', '-d', 'tsnet', '--subnet', '10.237.1.0/24', 'nulctl');
    await docker('network', 'connect', 'nulctl', 'n1');
    expect((await docker('exec', 'n1', 'ip', '-o', 'link')).stdout).toMatch(/: eth0@/);
    await docker('rm', '-f', 'n1');
    await docker('network', 'rm', 'nul', 'nulctl');
    expect(await hostLinks()).toEqual(before);
  });

  test('no gateway address is reserved on dockerd 28+ (GwAllocCheck); 20.10 never asks', async () => {
    await docker('network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=null', '--subnet', '10.237.2.0/24', 'nulgw');
    await docker('run', '-d', '--name', 'n2', '--network', 'nulgw', testImage(), 'sleep', '600');
    const ip = (await docker('inspect', '-f', '{{(index .NetworkSettings.Networks "nulgw").IPAddress}}', 'n2')).stdout.trim();
    expect(ip).toBe(DOCKER_MAJOR >= 28 ? '10.237.2.1' : '10.237.2.2');
    await docker('rm', '-f', 'n2');
    await docker('network', 'rm', 'nulgw');
  });

  test('--ipam-driver null: no address at all, and the container still runs', async () => {
    await docker('network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=null', '--ipam-driver', 'null', 'nulnoip');
    const run = await docker('run', '--rm', '--network', 'nulnoip', testImage(), 'ip', '-o', 'addr');
    expect(run.stdout.split('\n').filter(Boolean).every((l) => l.includes(' lo '))).toBe(true);
    await docker('network', 'rm', 'nulnoip');
  });

  test('an option the null type does not know is refused with its name, and nothing is created', async () => {
    const r = await tryDocker('network', 'create', '-d', 'tsnet', '-o', 'tsnet.type=null', '-o', 'parent=eth0', 'nulbad');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/the null driver does not know network option "parent"/);
    expect((await docker('network', 'ls', '--format', '{{.Name}}')).stdout).not.toContain('nulbad');
  });
});
