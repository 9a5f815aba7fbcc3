import { describe, expect, test } from 'vitest';
import type { CheckResult } from '../../../src/doctor/check.js';
import { judgeFeature, kernelChecks } from '../../../src/doctor/kernel.js';
import { context, healthyProbe, network } from './fake-probe.js';

const missing = { present: false, evidence: 'the kernel refused a test link: Error: Unknown device type.', loadable: false };

describe('kernel features', () => {
  test('every feature present: one PASS per feature', async () => {
    const results = await kernelChecks(context(healthyProbe())) as CheckResult[];
    expect(results.map((r) => `${r.id} ${r.status}`)).toEqual([
      'kernel.bridge PASS', 'kernel.veth PASS', 'kernel.vxlan PASS', 'kernel.macvlan PASS',
      'kernel.ipvlan PASS', 'kernel.8021q PASS', 'kernel.br_netfilter PASS', 'kernel.xfrm PASS',
    ]);
  });

  test('ipvlan missing on a host without ipvlan networks (this machine): WARN naming the type and modprobe', async () => {
    const probe = healthyProbe({ kernelFeature: async (f) => (f === 'ipvlan' ? missing : { present: true, evidence: 'built in', loadable: false }) });
    const results = await kernelChecks(context(probe)) as CheckResult[];
    const ipvlan = results.find((r) => r.id === 'kernel.ipvlan');
    expect(ipvlan).toMatchObject({ status: 'WARN', fix: 'modprobe ipvlan' });
    expect(ipvlan?.message).toMatch(/ipvlan networks \(-o tsnet.type=ipvlan\), none of which exists/);
    expect(ipvlan?.message).toMatch(/CONFIG_IPVLAN/);
    expect(results.filter((r) => r.status !== 'PASS')).toHaveLength(1);
  });

  test('ipvlan missing while an ipvlan network exists: FAIL naming the network', () => {
    const result = judgeFeature('ipvlan', missing, [network('lan', 'ipvlan', ['192.168.5.0/24'], { parent: 'eth1' })]);
    expect(result).toMatchObject({ id: 'kernel.ipvlan', status: 'FAIL', fix: 'modprobe ipvlan' });
    expect(result.message).toMatch(/networks that cannot work: lan/);
  });

  test('bridge or veth missing is a FAIL even with no networks: the default type needs them', () => {
    expect(judgeFeature('bridge', missing, [])).toMatchObject({ status: 'FAIL', fix: 'modprobe bridge' });
    expect(judgeFeature('veth', missing, []).message).toMatch(/bridge networks and overlays with the bridge layout cannot be created/);
  });

  test('an overlay needs macvlan (its default layout) and, only with -o tsnet.overlay.datapath=bridge, veth and br_netfilter', () => {
    const macvlanLayout = network('blue', 'overlay', ['10.61.0.0/24'], { 'tsnet.overlay.name': 'blue' });
    const bridgeLayout = network('green', 'overlay', ['10.62.0.0/24'], { 'tsnet.overlay.name': 'green', 'tsnet.overlay.datapath': 'bridge' });
    const macvlan = judgeFeature('macvlan', missing, [macvlanLayout, bridgeLayout]);
    expect(macvlan).toMatchObject({ status: 'FAIL', fix: 'modprobe macvlan' });
    expect(macvlan.message).toMatch(/networks that cannot work: blue$/);
    expect(judgeFeature('br_netfilter', missing, [macvlanLayout]).status).toBe('WARN');
    expect(judgeFeature('br_netfilter', missing, [bridgeLayout]).message).toMatch(/networks that cannot work: green/);
    expect(judgeFeature('veth', missing, [macvlanLayout, bridgeLayout]).message).toMatch(/networks that cannot work: green$/);
  });

  test('8021q is needed only by macvlan/ipvlan networks on a VLAN parent', () => {
    expect(judgeFeature('8021q', missing, [network('m', 'macvlan', [], { parent: 'eth0' })]).status).toBe('WARN');
    expect(judgeFeature('8021q', missing, [network('m', 'macvlan', [], { parent: 'eth0.10' })])).toMatchObject({ status: 'FAIL', fix: 'modprobe 8021q' });
  });

  test('a loadable module that is not loaded says so; br_netfilter fails when icc=false relies on it', () => {
    const notLoaded = { present: false, evidence: '/proc/sys/net/bridge does not exist', loadable: true };
    const result = judgeFeature('br_netfilter', notLoaded, [network('quiet', 'bridge', [], { 'com.docker.network.bridge.enable_icc': 'false' })]);
    expect(result).toMatchObject({ status: 'FAIL', fix: 'modprobe br_netfilter' });
    expect(result.message).toMatch(/the module exists but is not loaded/);
    expect(judgeFeature('br_netfilter', notLoaded, [network('plain', 'bridge')]).status).toBe('WARN');
  });

  test('xfrm is never a FAIL: no type uses it yet', () => {
    expect(judgeFeature('xfrm', missing, [network('o', 'overlay')])).toMatchObject({ status: 'WARN', fix: 'modprobe xfrm_user' });
  });

  test('a feature no source could tell about is a WARN, not a FAIL', () => {
    const result = judgeFeature('vxlan', { present: undefined, evidence: 'no test link could be tried: unshare: Operation not permitted', loadable: false }, []);
    expect(result.status).toBe('WARN');
    expect(result.message).toMatch(/could not tell/);
  });
});
