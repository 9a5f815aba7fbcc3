import { pass, skip, warn, type Check, type CheckResult } from './check.js';

/**
 * Container names across hosts (README: "Names across hosts"): tsnet's resolver must answer on
 * its address, and dockerd must ask it first. Neither is needed for networks to work, so a
 * problem here is a WARN: names of containers on other hosts will not resolve.
 */
export const namesChecks: Check = async ({ probe, options }) => {
  const address = options.dnsListen;
  if (!options.etcd) return skip('names.resolver', 'no etcd: names across hosts (and the resolver) need the overlay\'s etcd');
  if (address === 'none') return skip('names.resolver', '--dns-listen none: the daemon runs no resolver of names across hosts');
  const results: CheckResult[] = [];
  const answer = await probe.dnsAnswers(address);
  if (answer === true) {
    results.push(pass('names.resolver', `tsnet's resolver answers DNS on ${address}:53`));
  } else {
    const owner = await probe.addressOwner(address);
    const why = answer === false ? 'nothing answers DNS there' : answer.error;
    results.push(warn('names.resolver', `${address}:53: ${why}${owner ? '' : `, and ${address} is on no interface`}: containers will not find containers on other hosts by name`,
      'start tsnet daemon with --etcd-endpoints, then look for "no resolver" in its log (journalctl -u tsnet)'));
  }
  const dns = await probe.dockerDns();
  const example = `edit ${dns.file} so that it holds "dns": ["${address}", "<the server of your /etc/resolv.conf>"], then systemctl restart docker`;
  if ('error' in dns) {
    results.push(warn('names.docker-dns', `cannot read ${dns.file}: ${dns.error}`, example));
  } else if (dns.servers.length === 0) {
    results.push(warn('names.docker-dns', `${dns.file} sets no "dns": dockerd never asks tsnet's resolver, so names of containers on other hosts do not resolve`, example));
  } else if (dns.servers[0] !== address) {
    results.push(warn('names.docker-dns', `dockerd's "dns" is ${JSON.stringify(dns.servers)} in ${dns.file}: ${dns.servers.includes(address) ? `${address} must come first` : `${address} is missing`}, or names of containers on other hosts do not resolve`, example));
  } else if (dns.servers.length === 1) {
    results.push(warn('names.docker-dns', `dockerd's "dns" in ${dns.file} lists only ${address}: containers resolve no external name while tsnet is stopped`, example));
  } else {
    results.push(pass('names.docker-dns', `dockerd asks ${address} first, then ${dns.servers.slice(1).join(', ')} (${dns.file})`));
  }
  return results;
};
