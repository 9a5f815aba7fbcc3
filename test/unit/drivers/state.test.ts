import { describe, expect, test } from 'vitest';
import { bridgeState } from '../../../drivers/bridge/options.js';
import { createIpvlanDriver } from '../../../drivers/ipvlan/index.js';
import { createMacvlanDriver } from '../../../drivers/macvlan/index.js';
import { joinedOverlayState, overlayState } from '../../../drivers/overlay/options.js';
import { TsnetError } from '../../../src/core/errors.js';
import { RecordingHostNet } from '../../../src/host/recording.js';
import { NET_A, network, silentLog } from '../bridge/fixtures.js';

/** What a refusal says, or undefined when there was none. */
function refusal(read: () => unknown): TsnetError | undefined {
  try {
    read();
    return undefined;
  } catch (err) {
    if (err instanceof TsnetError) return err;
    throw err;
  }
}

describe('stored driver state is checked when read back', () => {
  test('a bridge record written before the later options existed gets Docker\'s defaults', () => {
    const old = network({ driverState: { bridge: 'tsb-1', userNamed: false, mtu: 1500, icc: true, masquerade: true } });
    expect(bridgeState.of(old)).toEqual({
      bridge: 'tsb-1', userNamed: false, mtu: 1500, icc: true, masquerade: true,
      ifacePrefix: 'eth', gatewayMode: { 4: 'nat', 6: 'nat' }, trustedInterfaces: [], inhibitIpv4: false,
    });
  });

  test('a state that does not fit its type is refused naming the network and the field, never guessed at', () => {
    const bad = network({ driverState: { bridge: 'tsb-1', userNamed: false, mtu: '1500', icc: true, masquerade: true } });
    const err = refusal(() => bridgeState.of(bad));
    expect(err?.code).toBe('TSNET_STATE_CORRUPT');
    expect(err?.message).toContain(`bridge network ${NET_A.slice(0, 12)}`);
    expect(err?.message).toContain('mtu');
    expect(err?.retryable).toBe(false);

    const badMode = network({ driverState: { bridge: 'tsb-1', userNamed: false, mtu: 1500, icc: true, masquerade: true, gatewayMode: { 4: 'nat', 6: 'bogus' } } });
    expect(refusal(() => bridgeState.of(badMode))?.message).toContain('gatewayMode.6');
    const badRestore = network({ driverState: { bridge: 'b', userNamed: true, mtu: 1500, icc: true, masquerade: true, restoreOps: [{ op: 'remove-link', name: 'eth0' }] } });
    expect(refusal(() => bridgeState.of(badRestore))?.code).toBe('TSNET_STATE_CORRUPT');
  });

  test('an overlay\'s VNI and port may be open while pending; a joined overlay must have them', () => {
    const pending = network({ type: 'overlay', driverState: { name: 'blue', bridge: 'tsb-1', vxlan: 'tsx-1' } });
    expect(overlayState.of(pending).name).toBe('blue');
    expect(refusal(() => joinedOverlayState.of(pending))?.message).toMatch(/overlay network .*vni/);
    const joined = network({ type: 'overlay', driverState: { name: 'blue', bridge: 'tsb-1', vxlan: 'tsx-1', vni: 4242, port: 4789 } });
    expect(joinedOverlayState.of(joined)).toMatchObject({ vni: 4242, port: 4789 });
  });

  test('a sub-interface network with a mode its type does not have is refused, for macvlan and ipvlan alike', async () => {
    const host = new RecordingHostNet();
    const macvlan = createMacvlanDriver({ host, log: silentLog });
    const ipvlan = createIpvlanDriver({ host, log: silentLog });
    const macBad = network({ type: 'macvlan', driverState: { parent: 'eth0', privateParent: false, mode: 'l3' } });
    await expect(macvlan.createNetwork(macBad)).rejects.toMatchObject({ code: 'TSNET_STATE_CORRUPT', message: expect.stringContaining('mode') });
    const ipBad = network({ type: 'ipvlan', driverState: { parent: 'eth0', privateParent: false, mode: { mode: 'bridge', flag: 'bridge' } } });
    await expect(ipvlan.createNetwork(ipBad)).rejects.toMatchObject({ code: 'TSNET_STATE_CORRUPT', message: expect.stringContaining('mode.mode') });
    expect(host.log).toEqual([]);
  });

  test('the same stored object is checked once, and each read gives the same value', () => {
    const net = network({ driverState: { bridge: 'tsb-1', userNamed: false, mtu: 1500, icc: true, masquerade: true } });
    expect(bridgeState.of(net)).toBe(bridgeState.of({ ...net }));
  });
});
