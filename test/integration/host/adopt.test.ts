import { describe, expect, test } from 'vitest';
import { createBridgeDriver } from '../../../drivers/bridge/index.js';
import { planBridgeNetwork } from '../../../drivers/bridge/network.js';
import { network } from '../../unit/bridge/fixtures.js';
import { log, withTestNetns } from './netns-fixture.js';

describe('an adopted bridge against a real kernel', () => {
  test('after the network goes, the bridge is exactly as the user left it', async () => {
    const { exec, host } = await withTestNetns('adopt');
    await exec(['ip', 'link', 'add', 'mybr0', 'mtu', '9000', 'type', 'bridge']);
    await exec(['ip', 'addr', 'add', '192.168.77.1/24', 'dev', 'mybr0']);
    await exec(['sysctl', '-qw', 'net.ipv4.conf.mybr0.route_localnet=0']);
    const snapshot = async () => ({
      // A link that was never up shows qdisc "noop"; the kernel attaches the default qdisc the
      // first time it goes up and keeps it: not a setting anyone chose, so not compared.
      link: (await exec(['ip', '-d', 'link', 'show', 'mybr0'])).replace(/^\d+: /, '').replace(/ qdisc \S+/, ''),
      addrs: await exec(['ip', '-o', 'addr', 'show', 'dev', 'mybr0']),
      routeLocalnet: (await exec(['sysctl', '-n', 'net.ipv4.conf.mybr0.route_localnet'])).trim(),
    });
    const before = await snapshot();
    expect(before.link).toContain('state DOWN');

    const driver = createBridgeDriver({ host, log });
    const draft = network({ options: { 'com.docker.network.bridge.name': 'mybr0' } });
    const planned = { ...draft, driverState: { ...planBridgeNetwork(draft, []) } };
    const learned = await driver.createNetwork(planned);
    const during = await snapshot();
    expect(during.addrs).toContain('10.99.0.1/24');
    expect(during.link).toMatch(/mtu 1500 .*state (UP|UNKNOWN|DOWN)/);
    expect(during.link).toMatch(/<[^>]*\bUP\b/);
    expect(during.routeLocalnet).toBe('1');

    await driver.deleteNetwork({ ...planned, driverState: { ...planned.driverState, ...learned } });
    expect(await snapshot()).toEqual(before);
  });
});
