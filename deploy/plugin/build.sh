#!/usr/bin/env bash
# Builds tsnet as a Docker managed plugin (v2): a directory holding config.json and rootfs/,
# ready for `docker plugin create NAME DIR` (deploy/plugin/install-plugin.sh does that).
#
#   bash deploy/plugin/build.sh [DIR]     # default /var/cache/tsnet/plugin/tsnet-VERSION
#
# The rootfs is assembled from this machine, with no image registry and no base image:
#   - this checkout's `npm run build` output (dist/, without dist/test) and its production
#     node_modules (`npm ci --omit=dev` in a staging copy, from npm's cache when it can);
#   - the Node.js runtime that runs this script (`command -v node`);
#   - the programs the daemon runs: ip and bridge (iproute2), and iptables, ip6tables and their
#     -save/-restore (both xtables multi-binaries, with the xtables extension modules);
#   - the shared libraries of all of these, as ldd resolves them, and the loader.
# That needs nothing but what the host already has to run tsnet (deploy/install.sh's packages
# and Node 20), works without any registry, and gives the plugin exactly the host's iptables,
# whose rules must be readable by the host's Docker.
#
# iptables backend: Docker's and tsnet's rules must live in the same backend (nf_tables or
# legacy), so iptables in the plugin is linked to the backend `iptables -V` shows on this host
# (TSNET_IPTABLES_BACKEND=nft|legacy to choose). It is recorded in the plugin's description and in
# /opt/tsnet/iptables-backend.
#
# Environment: TSNET_PLUGIN_SKIP_BUILD=1 uses the existing dist/ (no npm ci / npm run build in
# the checkout); TSNET_IPTABLES_BACKEND as above.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
version=$(node -p 'require("./package.json").version')
out=${1:-/var/cache/tsnet/plugin/tsnet-$version}

die() { echo "build.sh: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "run as root (the rootfs holds root-owned files)"
node_bin=$(command -v node) || die "node is not on PATH"
node_bin=$(readlink -f "$node_bin")
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || die "Node.js 20 or newer is needed (found $(node --version))"

case ${TSNET_IPTABLES_BACKEND:-} in
  '') if iptables -V 2>/dev/null | grep -q nf_tables; then backend=nft; else backend=legacy; fi ;;
  nft | legacy) backend=$TSNET_IPTABLES_BACKEND ;;
  *) die "TSNET_IPTABLES_BACKEND must be nft or legacy, not \"$TSNET_IPTABLES_BACKEND\"" ;;
esac

# 1. The build.
if [[ ${TSNET_PLUGIN_SKIP_BUILD:-} != 1 ]]; then
  [[ -d node_modules ]] || npm ci --no-audit --no-fund --prefer-offline
  npm run build --silent
fi
[[ -f dist/src/cli.js ]] || die "dist/src/cli.js is missing (npm run build)"

# Built next to the output, then moved into place: a failed build never leaves a half rootfs.
mkdir -p "$(dirname "$out")"
work=$(mktemp -d "$(dirname "$out")/.tsnet-plugin-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs=$work/plugin/rootfs
app=$rootfs/opt/tsnet
mkdir -p "$app" "$rootfs"/{bin,sbin,usr/bin,usr/sbin,lib64,etc,tmp,var/lib/tsnet,run/tsnet,run/docker/plugins,host/proc/sys,proc,sys,dev}
chmod 1777 "$rootfs/tmp"

# 2. tsnet: dist (not its tests) and production dependencies.
cp -a package.json package-lock.json "$app/"
mkdir -p "$app/dist"
for d in dist/*; do [[ $d == dist/test ]] || cp -a "$d" "$app/dist/"; done
(cd "$app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null)
rm -f "$app/package-lock.json"

# 3. Programs and their libraries.
copy_file() { # copy_file HOSTPATH: the file at the same path in the rootfs, symlinks resolved
  local dest=$rootfs$1
  mkdir -p "$(dirname "$dest")"
  cp -L --preserve=mode "$1" "$dest"
}
copy_libs() { # copy_libs FILE: every shared library ldd names, at its path
  local lib
  for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*' || true); do
    [[ -e $rootfs$lib ]] || copy_file "$lib"
  done
}
mkdir -p "$rootfs/usr/local/bin"
install -m 0755 "$node_bin" "$rootfs/usr/local/bin/node"
copy_libs "$node_bin"
# The daemon starts its programs from long-lived /bin/sh processes (src/host/launcher.ts).
install -m 0755 "$(readlink -f /bin/sh)" "$rootfs/bin/sh"
copy_libs /bin/sh
for prog in ip bridge xtables-nft-multi xtables-legacy-multi; do
  path=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$prog") || die "$prog is not installed (apt-get install iproute2 iptables)"
  install -m 0755 "$(readlink -f "$path")" "$rootfs/usr/sbin/$prog"
  copy_libs "$path"
done
xtables_dir=$(dirname "$(find /usr/lib /lib -name libxt_comment.so -path '*xtables*' 2>/dev/null | head -n1)")
[[ -d $xtables_dir && $xtables_dir != . ]] || die "the xtables extension modules (libxt_*.so) are missing"
mkdir -p "$rootfs$xtables_dir"
cp -a "$xtables_dir"/. "$rootfs$xtables_dir/"
for m in "$xtables_dir"/*.so; do copy_libs "$m"; done
for fam in iptables ip6tables; do
  for suffix in '' -save -restore; do
    ln -sf "xtables-$backend-multi" "$rootfs/usr/sbin/$fam$suffix"
    ln -sf "xtables-nft-multi" "$rootfs/usr/sbin/$fam-nft$suffix"
    ln -sf "xtables-legacy-multi" "$rootfs/usr/sbin/$fam-legacy$suffix"
  done
done
[[ -d /etc/iproute2 ]] && cp -a /etc/iproute2 "$rootfs/etc/"
for f in protocols services ethertypes; do [[ -f /etc/$f ]] && cp "/etc/$f" "$rootfs/etc/"; done
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\n' >"$rootfs/etc/group"
: >"$rootfs/etc/hosts"
: >"$rootfs/etc/resolv.conf"
echo "$backend" >"$app/iptables-backend"

# The rootfs must run on its own: node starts and every program finds its libraries.
chroot "$rootfs" /usr/local/bin/node -e 'require("/opt/tsnet/node_modules/fastify")' || die "node does not run in the rootfs"
chroot "$rootfs" /usr/sbin/ip -V >/dev/null || die "ip does not run in the rootfs"
chroot "$rootfs" /usr/sbin/iptables -V >/dev/null || die "iptables does not run in the rootfs"
chroot "$rootfs" /bin/sh -c 'ip -V' >/dev/null || die "/bin/sh does not run programs in the rootfs"
chroot "$rootfs" /usr/local/bin/node /opt/tsnet/dist/src/cli.js daemon --help >/dev/null || die "tsnet does not run in the rootfs"

# 4. config.json (https://docs.docker.com/engine/extend/config/).
BACKEND=$backend VERSION=$version node - >"$work/plugin/config.json" <<'EOF'
const setting = (name, value, description) => ({ name, description, value, settable: ['value'] });
const fixed = (name, value, description) => ({ name, description, value });
const mount = (name, source, destination, description, options = ['rbind']) =>
  ({ name, description, source, destination, type: 'bind', options, settable: ['source'] });
const config = {
  description: `tsnet ${process.env.VERSION}: network (bridge, overlay, macvlan, ipvlan, null) and IPAM driver; iptables backend ${process.env.BACKEND}`,
  documentation: 'README.md, "Installing as a Docker managed plugin"',
  interface: { types: ['docker.networkdriver/1.0', 'docker.ipamdriver/1.0'], socket: 'tsnet.sock' },
  // Only the socket is a flag: flags win over the environment, and the rest stays settable.
  // --max-semi-space-size=1 --optimize-for-size (and the MALLOC_ settings below): src/core/node-flags.ts says why.
  entrypoint: ['/usr/local/bin/node', '--max-semi-space-size=1', '--optimize-for-size', '/opt/tsnet/dist/src/cli.js', 'daemon', '--socket', '/run/docker/plugins/tsnet.sock'],
  workdir: '/',
  network: { type: 'host' },
  // The host's PIDs: the state directory's lock names its holder by PID, which must mean the
  // same to a tsnet run outside the plugin.
  pidhost: true,
  linux: {
    // Links, addresses, routes, sysctls and iptables: CAP_NET_ADMIN; iptables' raw socket
    // (legacy backend): CAP_NET_RAW, in Docker's default set. Nothing else.
    capabilities: ['CAP_NET_ADMIN', 'CAP_NET_RAW'],
  },
  mounts: [
    mount('state', '/var/lib/tsnet', '/var/lib/tsnet', 'tsnet state directory (embedded store)'),
    mount('run', '/run/tsnet', '/run/tsnet', 'directory of the admin socket (tsnet status, networks, ports)'),
    mount('docker-socket', '/var/run/docker.sock', '/run/docker.sock', 'Docker API, read to converge with Docker (TSNET_DOCKER_HOST=none: not used)'),
    // runc makes the plugin's own /proc/sys read-only; the host network's sysctls
    // (ip_forward, route_localnet of each bridge) are written through this mount.
    mount('proc-sys', '/proc/sys', '/host/proc/sys', 'the host\'s /proc/sys, writable', ['rbind', 'rw']),
    // Docker's exec-root, to see which sandboxes (EXEC_ROOT/netns/ID) still exist. Not rbind:
    // a copy of the netns mounts inside the plugin would keep every container's network
    // namespace alive after Docker lets it go.
    mount('docker-exec-root', '/var/run/docker', '/host/docker', 'Docker\'s exec-root (--exec-root), read-only, for its netns directory', ['bind', 'ro']),
    mount('etcd-tls', '/etc/tsnet/etcd', '/etc/tsnet/etcd', 'directory of the etcd CA, client certificate and key (TSNET_ETCD_CA, _CERT, _KEY)', ['rbind', 'ro']),
  ],
  // An empty value means tsnet's default (tsnet daemon --help).
  env: [
    fixed('MALLOC_ARENA_MAX', '2', 'fewer malloc arenas: less resident memory (src/core/node-flags.ts)'),
    fixed('MALLOC_MMAP_THRESHOLD_', '16384', 'larger blocks mapped on their own, unmapped when freed (src/core/node-flags.ts)'),
    fixed('MALLOC_TRIM_THRESHOLD_', '65536', 'the heap trimmed when 64 KiB at its top are free (src/core/node-flags.ts)'),
    fixed('TSNET_STATE_DIR', '/var/lib/tsnet', 'the state mount'),
    fixed('TSNET_ADMIN_SOCKET', '/run/tsnet/admin.sock', 'in the run mount'),
    fixed('TSNET_PROC_SYS', '/host/proc/sys', 'the proc-sys mount'),
    fixed('TSNET_DOCKER_NETNS_DIR', '/host/docker/netns', 'in the docker-exec-root mount'),
    setting('TSNET_LOG_LEVEL', 'info', 'fatal|error|warn|info|debug|trace'),
    setting('TSNET_HOST_ID', '', 'this host\'s name in etcd (default: the hostname)'),
    setting('TSNET_DOCKER_HOST', 'unix:///run/docker.sock', 'Docker API to converge with (the docker-socket mount); none to turn it off'),
    setting('TSNET_ETCD_ENDPOINTS', '', 'comma-separated etcd client URLs (empty: no etcd)'),
    setting('TSNET_ETCD_PREFIX', '', 'key prefix (default tsnet/)'),
    setting('TSNET_ETCD_USER', '', 'etcd user name'),
    setting('TSNET_ETCD_PASSWORD', '', 'etcd password'),
    setting('TSNET_ETCD_CA', '', 'CA certificate for https:// endpoints, e.g. /etc/tsnet/etcd/ca.pem (the etcd-tls mount)'),
    setting('TSNET_ETCD_CERT', '', 'client certificate, e.g. /etc/tsnet/etcd/client.pem'),
    setting('TSNET_ETCD_KEY', '', 'client key, e.g. /etc/tsnet/etcd/client-key.pem'),
    setting('TSNET_VXLAN_LOCAL_IP', '', 'underlay address for overlays (default: the route to etcd)'),
    setting('TSNET_VXLAN_PORT', '', 'VXLAN UDP port (default 4789)'),
    setting('TSNET_DRIVER_SCOPE', 'local', 'local, or global for Docker swarm (tsnet daemon --driver-scope): every tsnet network is then a swarm network'),
  ],
};
process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
EOF

rm -rf "$out"
mv "$work/plugin" "$out"
echo "$out"
