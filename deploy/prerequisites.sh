#!/usr/bin/env bash
# Installs what tsnet needs from Debian's archive. With --test, also what the test suite needs
# (etcd, busybox for test images, python3 for raw-socket SCTP, systemd for systemd-analyze verify of
# the unit: it installs and verifies without systemd running as PID 1, and Debian's docker-registry
# unpacked, not installed, into /var/cache/tsnet/docker-registry for the managed plugin's upgrade
# test: installing it would start a registry service). Needs root. Idempotent.
set -euo pipefail

runtime_packages=(docker.io iptables iproute2 procps kmod ca-certificates curl)
test_packages=(etcd-server etcd-client busybox-static iperf3 iputils-ping python3 systemd)

packages=("${runtime_packages[@]}")
if [[ "${1:-}" == "--test" ]]; then packages+=("${test_packages[@]}"); fi

if [[ $(id -u) -ne 0 ]]; then
  echo "prerequisites.sh: run as root (it installs Debian packages)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d may forbid starting services inside containers; tsnet starts what it needs.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v node >/dev/null || ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  echo "prerequisites.sh: tsnet needs Node.js 20 or newer on PATH (found: $(node --version 2>/dev/null || echo none))." >&2
  echo "Debian 12's own nodejs package is 18; install Node 20 (e.g. from your organisation's mirror) and re-run." >&2
  exit 1
fi

# Kernel modules tsnet's drivers use; missing ones are reported by the tests that need them.
for m in bridge veth vxlan macvlan; do modprobe -q "$m" 2>/dev/null || true; done

# The managed plugin's upgrade test (test/e2e/managed-plugin.test.ts) runs a registry on a
# simulated host's loopback: Debian's docker-registry binary, unpacked without installing.
registry_dir=/var/cache/tsnet/docker-registry
if [[ "${1:-}" == "--test" && ! -x $registry_dir/usr/bin/docker-registry ]]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && { apt-get download -qq docker-registry 2>/dev/null || { apt-get update -qq && apt-get download -qq docker-registry; }; })
  mkdir -p "$registry_dir"
  dpkg-deb -x "$tmp"/docker-registry_*.deb "$registry_dir"
  rm -rf "$tmp"
fi
