#!/usr/bin/env bash
# A multi-host tsnet lab on one machine (root, Debian 12): each "host" is a network namespace
# with its own dockerd and tsnet daemon, the hosts share an underlay bridge, and one etcd serves
# them all. Nothing outside the lab's namespaces is touched.
#
#   deploy/lab/lab.sh up [N]          build N hosts (default 2, at most 9): h1..hN
#   deploy/lab/lab.sh docker H ARGS…  run the docker client against host H (e.g. h1)
#   deploy/lab/lab.sh exec H CMD…     run a command in host H's network namespace
#   deploy/lab/lab.sh status          what runs
#   deploy/lab/lab.sh tsnet H start|stop|kill   start tsnet on H, stop it (SIGTERM) or SIGKILL it
#   deploy/lab/lab.sh etcd start|stop start or stop (SIGTERM) the lab's etcd; its data is kept
#   deploy/lab/lab.sh down            stop everything the lab started and remove it
#
# TSNET_LAB_NAME (default tsnlab) prefixes the lab's namespaces, so two labs can coexist.
#
# Try the overlay:
#   for h in h1 h2; do deploy/lab/lab.sh docker $h network create -d tsnet \
#       -o tsnet.type=overlay -o tsnet.overlay.name=demo \
#       --ipam-driver tsnet --ipam-opt tsnet.scope=global --subnet 10.60.0.0/24 demo; done
#   deploy/lab/lab.sh docker h1 run -d --name a --network demo tsbox sleep 1d
#   deploy/lab/lab.sh docker h2 run --rm --network demo tsbox ping -c3 10.60.0.2
set -euo pipefail

LAB=${TSNET_LAB_DIR:-/run/tsnet-lab}
DATA=${TSNET_LAB_DATA:-/var/lib/tsnet-lab}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
NAME=${TSNET_LAB_NAME:-tsnlab}
UNDERLAY_NS=$NAME-ul
SUBNET_PREFIX=198.19.10
ETCD_IP=$SUBNET_PREFIX.254
ETCD_URL=http://$ETCD_IP:2379
DOCKER=/usr/bin/docker

die() { echo "lab.sh: $*" >&2; exit 1; }
host_ns() { echo "$NAME-$1"; }
need_root() { [[ $(id -u) -eq 0 ]] || die "run as root"; }

start_bg() { # name logfile argv… : start in the background, remember the PID
  local name=$1 log=$2; shift 2
  "$@" >>"$log" 2>&1 &
  echo $! >"$LAB/$name.pid"
}

stop_pid() { # name : SIGTERM the PID we started, SIGKILL after 20 s
  local f=$LAB/$1.pid pid
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

wait_for() { # description command… : poll for up to 60 s
  local what=$1; shift
  for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  die "timed out waiting for $what"
}

up() {
  local n=${1:-2}
  [[ $n =~ ^[1-9]$ ]] || die "N must be 1..9"
  need_root
  for tool in etcd etcdctl busybox dockerd curl; do
    command -v "$tool" >/dev/null || die "$tool is missing: run bash deploy/prerequisites.sh --test (as root)"
  done
  [[ -f $REPO/dist/src/cli.js ]] || (cd "$REPO" && npm run build --silent)
  mkdir -p "$LAB" "$DATA"
  if ! ip netns list | grep -qw "$UNDERLAY_NS"; then
    ip netns add "$UNDERLAY_NS"
    ip -n "$UNDERLAY_NS" link set lo up
    ip -n "$UNDERLAY_NS" link add ul0 type bridge
    ip -n "$UNDERLAY_NS" addr add "$ETCD_IP/24" dev ul0
    ip -n "$UNDERLAY_NS" link set ul0 up
  fi
  [[ -f $LAB/etcd.pid ]] || start_etcd
  for i in $(seq "$n"); do up_host "h$i" "$i"; done
  echo "lab is up: $(seq -s ' ' -f 'h%g' "$n"); etcd at $ETCD_URL"
  echo "try: $0 docker h1 network ls"
}

start_etcd() {
  start_bg etcd "$LAB/etcd.log" nsenter --net="/run/netns/$UNDERLAY_NS" etcd --name lab --data-dir "$DATA/etcd" \
    --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
    --listen-peer-urls "http://$ETCD_IP:2380" --initial-advertise-peer-urls "http://$ETCD_IP:2380" \
    --initial-cluster "lab=http://$ETCD_IP:2380"
  wait_for etcd nsenter --net="/run/netns/$UNDERLAY_NS" etcdctl --endpoints "$ETCD_URL" endpoint health
}

start_tsnet() {
  local h=$1 dir=$LAB/$1
  start_bg "$h-tsnet" "$dir/tsnet.log" nsenter --net="/run/netns/$(host_ns "$h")" node "$REPO/dist/src/cli.js" daemon \
    --socket "$dir/plugins/tsnet.sock" --state-dir "$DATA/$h/tsnet" --host-id "$h" --etcd-endpoints "$ETCD_URL" \
    --docker-host "unix://$dir/docker.sock"
  wait_for "tsnet on $h" curl -sf --unix-socket "$dir/plugins/tsnet.sock" -X POST http://tsnet/Plugin.Activate
}

up_host() {
  local h=$1 i=$2 ns dir
  ns=$(host_ns "$h")
  dir=$LAB/$h
  if ip netns list | grep -qw "$ns"; then echo "$h exists"; return 0; fi
  mkdir -p "$dir/plugins" "$DATA/$h"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$ns" link add eth0 type veth peer name "ul-$h" netns "$UNDERLAY_NS"
  ip -n "$UNDERLAY_NS" link set "ul-$h" master ul0 up
  ip -n "$ns" addr add "$SUBNET_PREFIX.$i/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" route add default via "$ETCD_IP"
  # dockerd needs the host's cgroup mounts, so it is entered with nsenter (not ip netns exec),
  # in a private mount namespace whose /run/docker/plugins is this host's own directory.
  start_bg "$h-dockerd" "$dir/dockerd.log" nsenter --net="/run/netns/$ns" unshare -m -u --propagation private sh -c '
    set -e
    mkdir -p /run/docker/plugins /run/containerd
    mount --bind "$1/plugins" /run/docker/plugins
    mount -t tmpfs tmpfs /run/containerd
    hostname "$2"
    exec dockerd --data-root "$3" --exec-root "$1/exec" --pidfile "$1/dockerd.pid" -H "unix://$1/docker.sock"' sh "$dir" "$h" "$DATA/$h/docker"
  start_tsnet "$h"
  wait_for "dockerd on $h" "$DOCKER" -H "unix://$dir/docker.sock" version
  if ! "$DOCKER" -H "unix://$dir/docker.sock" image inspect tsbox >/dev/null 2>&1; then
    local root
    root=$(mktemp -d)
    mkdir -p "$root/bin" "$root/tmp"
    cp /bin/busybox "$root/bin/"
    for a in sh ip ping nc sleep cat hostname true ifconfig route echo ls chroot arp; do ln -s busybox "$root/bin/$a"; done
    tar -C "$root" -c . | "$DOCKER" -H "unix://$dir/docker.sock" import -c 'CMD ["sh"]' - tsbox:latest >/dev/null
    rm -rf "$root"
  fi
  echo "$h: underlay $SUBNET_PREFIX.$i, docker -H unix://$dir/docker.sock"
}

down() {
  need_root
  local h ids
  # Containers go first, while tsnet still answers: dockerd retries a missing plugin for about
  # 30 s per call, so removing them after tsnet would take minutes.
  for pidfile in "$LAB"/*-dockerd.pid; do
    [[ -e $pidfile ]] || continue
    h=${pidfile##*/}; h=${h%-dockerd.pid}
    ids=$("$DOCKER" -H "unix://$LAB/$h/docker.sock" ps -aq 2>/dev/null || true)
    [[ -z $ids ]] || "$DOCKER" -H "unix://$LAB/$h/docker.sock" rm -f $ids >/dev/null 2>&1 || true
  done
  for pidfile in "$LAB"/*-tsnet.pid; do [[ -e $pidfile ]] && stop_pid "$(basename "$pidfile" .pid)"; done
  for pidfile in "$LAB"/*-dockerd.pid; do [[ -e $pidfile ]] && stop_pid "$(basename "$pidfile" .pid)"; done
  stop_pid etcd
  for ns in $(ip netns list | awk '{print $1}' | grep "^$NAME-" || true); do ip netns delete "$ns"; done
  rm -rf "$LAB" "$DATA"
  echo "lab is down"
}

status() {
  for f in "$LAB"/*.pid; do
    [[ -e $f ]] || { echo "nothing runs"; return 0; }
    local pid; pid=$(cat "$f")
    printf '%-14s pid %-7s %s\n' "$(basename "$f" .pid)" "$pid" "$(kill -0 "$pid" 2>/dev/null && echo running || echo dead)"
  done
}

cmd=${1:-}; shift || true
case $cmd in
  up) up "$@" ;;
  down) down ;;
  status) status ;;
  docker) h=${1:?host}; shift; exec "$DOCKER" -H "unix://$LAB/$h/docker.sock" "$@" ;;
  tsnet)
    h=${1:?host}
    case ${2:-} in
      start) start_tsnet "$h" ;;
      stop) stop_pid "$h-tsnet" ;;
      kill) kill -KILL "$(cat "$LAB/$h-tsnet.pid")"; rm -f "$LAB/$h-tsnet.pid" ;;
      *) die "tsnet H start|stop|kill" ;;
    esac ;;
  etcd)
    case ${1:-} in
      start) start_etcd ;;
      stop) stop_pid etcd ;;
      *) die "etcd start|stop" ;;
    esac ;;
  exec) h=${1:?host}; shift; exec ip netns exec "$(host_ns "$h")" "$@" ;;
  *) sed -n '2,27p' "$0"; exit 2 ;;
esac
