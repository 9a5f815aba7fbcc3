import type { Runner } from '../host/runner.js';
import type { DoctorOptions } from './check.js';
import { KernelProbe } from './host-probe.js';
import type { DoctorProbe } from './probe.js';
import { ServiceProbe } from './service-probe.js';

/**
 * The probe `tsnet doctor` uses: the kernel and firewall of the network namespace it runs in
 * (through `runner`), and the services `options` name. Built by the CLI, the composition root.
 */
export function createHostProbe(deps: { readonly runner: Runner }, options: DoctorOptions): DoctorProbe {
  const kernel = new KernelProbe(deps.runner);
  const services = new ServiceProbe(options);
  return {
    kernelFeature: (f) => kernel.kernelFeature(f),
    sysctl: (k) => kernel.sysctl(k),
    iptables: () => kernel.iptables(),
    firewallManagers: () => kernel.firewallManagers(),
    links: () => kernel.links(),
    routes: () => kernel.routes(),
    addressOwner: (a) => kernel.addressOwner(a),
    routeTowards: (h) => kernel.routeTowards(h),
    docker: (h) => services.docker(h),
    pluginSocket: (p) => services.pluginSocket(p),
    pluginSpecFiles: (n) => services.pluginSpecFiles(n),
    directory: (p) => services.directory(p),
    etcdEndpoint: (e) => services.etcdEndpoint(e),
    etcdRead: () => services.etcdRead(),
    etcdHostLease: (h) => services.etcdHostLease(h),
    etcdVteps: () => services.etcdVteps(),
    udpRefused: (a, p) => services.udpRefused(a, p),
    dnsAnswers: (a) => services.dnsAnswers(a),
    dockerDns: () => services.dockerDns(),
    uid: () => process.getuid?.() ?? -1,
  };
}
