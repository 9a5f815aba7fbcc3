#!/usr/bin/env bash
# A single-node etcd from Debian's etcd-server, for trying tsnet's overlay and global pools.
# Usage (as root): bash deploy/etcd/single-node.sh ADDRESS
#   ADDRESS: this machine's address that the other tsnet hosts reach, e.g. 10.0.0.5
# Then on every host: tsnet daemon --etcd-endpoints http://ADDRESS:2379
# One node is one point of failure: use deploy/etcd/docker-compose.yml (three nodes) for real use.
set -euo pipefail
address=${1:?usage: single-node.sh ADDRESS}
data=${ETCD_DATA_DIR:-/var/lib/tsnet-etcd}
command -v etcd >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client; }
mkdir -p "$data"
exec etcd --name tsnet-etcd --data-dir "$data" \
  --listen-client-urls "http://$address:2379,http://127.0.0.1:2379" --advertise-client-urls "http://$address:2379" \
  --listen-peer-urls "http://$address:2380" --initial-advertise-peer-urls "http://$address:2380" \
  --initial-cluster "tsnet-etcd=http://$address:2380"
