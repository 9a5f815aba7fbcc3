import { describe, expect, test } from 'vitest';
import { IptablesFirewall } from '../../../src/host/firewall-iptables.js';
import type { Runner } from '../../../src/host/runner.js';
import { log, runner, withTestNetns } from './netns-fixture.js';

async function setup() {
  const netns = await withTestNetns('fw');
  const firewall = new IptablesFirewall({ runner, log, wrap: ['ip', 'netns', 'exec', netns.ns] });
  const save = async () => (await netns.exec(['iptables-save'])).split('\n').filter((l) => l.startsWith('-A') || l.startsWith(':')).map((l) => l.replace(/ \[\d+:\d+\]$/, ''));
  return { ...netns, firewall, save };
}

describe('IptablesFirewall against a real kernel', () => {
  test('sync installs chains and hooks once, replaces content, leaves foreign rules alone', async () => {
    const { exec, firewall, save } = await setup();
    // Stand-ins for dockerd's rules, which tsnet must never touch.
    await exec(['iptables', '-N', 'DOCKER-USER']);
    await exec(['iptables', '-A', 'FORWARD', '-j', 'DOCKER-USER']);
    await exec(['iptables', '-P', 'FORWARD', 'DROP']);

    await firewall.sync([{ family: 4, chain: 'TSNET-FORWARD', args: ['-i', 'tsnb-0000000001', '-j', 'ACCEPT'] }]);
    await firewall.sync([{ family: 4, chain: 'TSNET-FORWARD', args: ['-i', 'tsnb-0000000002', '-j', 'ACCEPT'] }]);
    const rules = await save();
    expect(rules.filter((l) => l === '-A FORWARD -j TSNET-FORWARD')).toHaveLength(1);
    expect(rules.indexOf('-A FORWARD -j TSNET-FORWARD')).toBeLessThan(rules.indexOf('-A FORWARD -j DOCKER-USER'));
    expect(rules).toContain('-A TSNET-FORWARD -i tsnb-0000000002 -j ACCEPT');
    expect(rules).not.toContain('-A TSNET-FORWARD -i tsnb-0000000001 -j ACCEPT');
    expect(rules).toContain('-A POSTROUTING -j TSNET-POSTROUTING');
    expect(rules).toContain('-A PREROUTING -m addrtype --dst-type LOCAL -j TSNET-PORTS');
    expect(rules).toContain('-A OUTPUT -m addrtype --dst-type LOCAL -j TSNET-PORTS');

    await firewall.sync([]);
    const after = await save();
    expect(after.filter((l) => l.includes('TSNET'))).toEqual([]);
    expect(after).toContain('-A FORWARD -j DOCKER-USER');
    expect(after).toContain(':FORWARD DROP');
  });

  test('a family whose rules did not change runs no program; one that changed is read and rewritten, hooks repaired', async () => {
    const { ns, exec, save } = await setup();
    const programs: string[] = [];
    const counting: Runner = { run: (argv, options) => { programs.push(argv[4] ?? ''); return runner.run(argv, options); } };
    const firewall = new IptablesFirewall({ runner: counting, log, wrap: ['ip', 'netns', 'exec', ns] });
    const v4 = { family: 4, chain: 'TSNET-FORWARD', args: ['-i', 'tsnb-0000000001', '-j', 'ACCEPT'] } as const;
    const v6 = { family: 6, chain: 'TSNET-FORWARD', args: ['-i', 'tsnb-0000000001', '-j', 'ACCEPT'] } as const;
    await firewall.sync([v4, v6]);
    expect(programs.sort()).toEqual(['ip6tables-restore', 'ip6tables-save', 'iptables-restore', 'iptables-save']);
    programs.length = 0;
    await firewall.sync([v4, v6]);
    expect(programs).toEqual([]);
    // Someone removes tsnet's hook; the next change of that family puts it back.
    await exec(['iptables', '-D', 'FORWARD', '-j', 'TSNET-FORWARD']);
    await firewall.sync([{ ...v4, args: ['-i', 'tsnb-0000000002', '-j', 'ACCEPT'] }, v6]);
    expect(programs).toEqual(['iptables-save', 'iptables-restore']);
    expect(await save()).toContain('-A FORWARD -j TSNET-FORWARD');
    expect(await save()).toContain('-A TSNET-FORWARD -i tsnb-0000000002 -j ACCEPT');
  });

  test('a rule the kernel rejects leaves the previous ruleset in place (atomic)', async () => {
    const { firewall, save } = await setup();
    await firewall.sync([{ family: 4, chain: 'TSNET-FORWARD', args: ['-i', 'good0', '-j', 'ACCEPT'] }]);
    await expect(firewall.sync([
      { family: 4, chain: 'TSNET-FORWARD', args: ['-i', 'good1', '-j', 'ACCEPT'] },
      { family: 4, chain: 'TSNET-FORWARD', args: ['-p', 'nosuchproto', '-j', 'ACCEPT'] },
    ])).rejects.toMatchObject({ code: 'TSNET_FIREWALL' });
    const rules = await save();
    expect(rules).toContain('-A TSNET-FORWARD -i good0 -j ACCEPT');
    expect(rules).not.toContain('-A TSNET-FORWARD -i good1 -j ACCEPT');
  });

  test('all or nothing across families: when the IPv6 half fails, the IPv4 half is put back exactly', async () => {
    const { exec, firewall } = await setup();
    const dump = async () => [(await exec(['iptables-save'])), (await exec(['ip6tables-save']))].map((t) => t.split('\n').filter((l) => /^[-:]/.test(l)).map((l) => l.replace(/ \[\d+:\d+\]$/, '')).join('\n'));
    await firewall.sync([
      { family: 4, chain: 'TSNET-FORWARD', args: ['-i', 'before0', '-j', 'ACCEPT'] },
      { family: 4, chain: 'TSNET-POSTROUTING', args: ['-s', '10.1.0.0/24', '-j', 'MASQUERADE'] },
    ]);
    const before = await dump();
    await expect(firewall.sync([
      { family: 4, chain: 'TSNET-FORWARD', args: ['-i', 'after0', '-j', 'ACCEPT'] },
      { family: 6, chain: 'TSNET-FORWARD', args: ['-i', 'after0', '-p', 'nosuchproto', '-j', 'ACCEPT'] },
    ])).rejects.toMatchObject({ code: 'TSNET_FIREWALL', message: expect.stringMatching(/IPv6 firewall, nothing was changed: the rule "-A TSNET-FORWARD -i after0 -p nosuchproto -j ACCEPT" was refused/) });
    expect(await dump()).toEqual(before);
    // From nothing at all: a failed first sync leaves no tsnet chain or hook in either family.
    const fresh = await setup();
    // A namespace that never had a rule shows no tables at all; once touched, it shows the
    // built-in chains with their default policy. Compare what is not built in.
    const rulesOnly = async () => [(await fresh.exec(['iptables-save'])), (await fresh.exec(['ip6tables-save']))]
      .map((t) => t.split('\n').filter((l) => l.startsWith('-A') || (l.startsWith(':') && !/^:(INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) ACCEPT/.test(l))).join('\n'));
    const empty = await rulesOnly();
    await expect(fresh.firewall.sync([
      { family: 4, chain: 'TSNET-FORWARD', args: ['-i', 'x0', '-j', 'ACCEPT'] },
      { family: 6, chain: 'TSNET-FORWARD', args: ['-p', 'nosuchproto', '-j', 'ACCEPT'] },
    ])).rejects.toMatchObject({ code: 'TSNET_FIREWALL' });
    expect(await rulesOnly()).toEqual(empty);
  });

  test('IPv6 rules go to ip6tables', async () => {
    const { exec, firewall } = await setup();
    await firewall.sync([{ family: 6, chain: 'TSNET-POSTROUTING', args: ['-s', 'fd00:1::/64', '!', '-o', 'x', '-j', 'MASQUERADE'] }]);
    expect(await exec(['ip6tables-save', '-t', 'nat'])).toContain('-A TSNET-POSTROUTING -s fd00:1::/64 ! -o x -j MASQUERADE');
  });
});
