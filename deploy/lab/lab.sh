#!/usr/bin/env bash
# A multi-host tsnet lab on one machine (root, Debian 12): each "host" is a network namespace
# with its own dockerd and tsnet daemon, the hosts share an underlay bridge, and one etcd serves
# them all. Nothing outside the lab's namespaces is touched.
#
#   deploy/lab/lab.sh up [N]          build N hosts (default 2, at most 9): h1..hN
#   deploy/lab/lab.sh docker H ARGS…  run the docker client against host H (e.g. h1)
#   deploy/lab/lab.sh exec H CMD…     run a command in host H's network namespace
#   deploy/lab/lab.sh status          what runs
#   deploy/lab/lab.sh tsnet H start [FLAGS…]  start tsnet on H (FLAGS are added to its command line)
#   deploy/lab/lab.sh tsnet H stop|kill|pause|resume
#                                     SIGTERM, SIGKILL, SIGSTOP or SIGCONT the tsnet the lab started on H
#   deploy/lab/lab.sh etcd start|stop start or stop (SIGTERM) the lab's etcd; its data is kept
#   deploy/lab/lab.sh down            stop everything the lab started and remove it; exits 1 and
#                                     names what is left (PIDs, namespaces, links) if it could not
#
# Environment:
#   TSNET_LAB_NAME (default tsnlab) prefixes the lab's namespaces, so two labs can coexist.
#   TSNET_LAB_DOCKERD (default /usr/sbin/dockerd, Debian's) is the dockerd every host runs,
#   TSNET_LAB_DOCKER (default /usr/bin/docker) the client that matches it, and TSNET_LAB_PATH
#   (default: dockerd's directory, then /usr/sbin:/usr/bin:/sbin:/bin) the PATH dockerd finds
#   containerd, runc and docker-proxy in. `up` records them; later commands use the recorded
#   ones unless these variables are set. E.g. a newer Docker unpacked under /opt/docker28:
#     TSNET_LAB_DOCKERD=/opt/docker28/usr/sbin/dockerd TSNET_LAB_DOCKER=/opt/docker28/usr/bin/docker \
#     TSNET_LAB_PATH=/opt/docker28/usr/sbin:/opt/docker28/usr/bin:/usr/sbin:/usr/bin:/sbin:/bin lab.sh up 2
#   TSNET_LAB_DNS (default "169.254.53.53 198.19.10.254"): the servers every dockerd is given
#   (`--dns`, dockerd's "dns" setting), in order: tsnet's resolver of container names across
#   hosts first (tsnet daemon --dns-listen), then the lab's upstream, the underlay's gateway
#   (nothing answers there unless a test starts a server: queries fail at once).
#   TSNET_EXTRA_ARGS: further `tsnet daemon` flags for every host; TSNET_EXTRA_ARGS_h2 (and so
#   on) for one host only. Split at whitespace, never globbed or evaluated.
#
# Try the overlay:
#   for h in h1 h2; do deploy/lab/lab.sh docker $h network create -d tsnet \
#       -o tsnet.type=overlay -o tsnet.overlay.name=demo \
#       --ipam-driver tsnet --ipam-opt tsnet.scope=global --subnet 10.60.0.0/24 demo; done
#   deploy/lab/lab.sh docker h1 run -d --name demo1 --network demo tsbox sleep 1d
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
read -r -a LAB_DNS <<<"${TSNET_LAB_DNS-169.254.53.53 $ETCD_IP}"
# The tsnet daemon flag that names the host's Docker API. Passed (as unix://<host's docker.sock>)
# only when `tsnet daemon --help` lists it; set it empty to never pass it.
DOCKER_HOST_FLAG=--docker-host

die() { echo "lab.sh: $*" >&2; exit 1; }
# The name goes into namespace and cgroup names, globs and a grep pattern: keep it plain.
[[ $NAME =~ ^[a-z0-9][a-z0-9_]{0,11}$ ]] || die "TSNET_LAB_NAME must be 1-12 lower-case letters, digits or _"
host_ns() { echo "$NAME-$1"; }
need_root() { [[ $(id -u) -eq 0 ]] || die "run as root"; }

# Which Docker the lab runs: the environment, else what `up` recorded, else Debian's.
if [[ -f $LAB/docker.env ]]; then
  while IFS='=' read -r key value; do
    case $key in
      DOCKERD) : "${TSNET_LAB_DOCKERD:=$value}" ;;
      DOCKER) : "${TSNET_LAB_DOCKER:=$value}" ;;
      DOCKERD_PATH) : "${TSNET_LAB_PATH:=$value}" ;;
    esac
  done <"$LAB/docker.env"
fi
DOCKERD=${TSNET_LAB_DOCKERD:-/usr/sbin/dockerd}
DOCKER=${TSNET_LAB_DOCKER:-/usr/bin/docker}
DOCKERD_PATH=${TSNET_LAB_PATH:-$(dirname "$DOCKERD"):/usr/sbin:/usr/bin:/sbin:/bin}

start_bg() { # name logfile argv… : start in the background, remember the PID and its start time
  local name=$1 log=$2; shift 2
  "$@" >>"$log" 2>&1 &
  echo $! >"$LAB/$name.pid"
  start_time $! >"$LAB/$name.start"
}

# Field 22 of /proc/PID/stat (20 once the command name is cut off): when the process started.
# With it a PID file cannot point the lab at an unrelated process that reused a dead one's PID.
start_time() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $20 }'; }

ours() { # name : print the PID the lab started as NAME, if that very process still runs
  local f=$LAB/$1.pid pid
  [[ -f $f ]] || return 1
  pid=$(cat "$f")
  alive "$pid" || return 1
  [[ ! -f $LAB/$1.start || $(start_time "$pid") == "$(cat "$LAB/$1.start")" ]] || return 1
  echo "$pid"
}

alive() { # pid : running and not a zombie
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
  [[ -n $state && $state != Z ]]
}

describe_pids() { # pid… : "123 (dockerd), 456 (containerd)"
  local pid sep=''
  for pid in "$@"; do printf '%s%s (%s)' "$sep" "$pid" "$(cat "/proc/$pid/comm" 2>/dev/null || echo gone)"; sep=', '; done
  echo
}

still_alive() { # pid… : those of them that still run
  local pid
  for pid in "$@"; do alive "$pid" && echo "$pid"; done
  return 0
}

stop_pid() { # name : SIGTERM the PID we started, SIGKILL after 20 s; fails if it is still there
  local pid
  if pid=$(ours "$1"); then
    kill -CONT "$pid" 2>/dev/null || true # a paused process cannot act on SIGTERM
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 200); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
      echo "lab.sh: $1 (pid $pid) did not end within 20 s of SIGTERM; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    fi
  fi
  if [[ -n $pid ]] && alive "$pid"; then
    echo "lab.sh: $1: process $(describe_pids "$pid") is still running after SIGKILL" >&2
    return 1
  fi
  rm -f "$LAB/$1.pid" "$LAB/$1.start"
}

signal_tsnet() { # host signal : signal the tsnet PID the lab started on that host, nothing else
  local pid
  pid=$(ours "$1-tsnet") || die "no tsnet started by this lab runs on $1"
  kill "-$2" "$pid"
  echo "$pid"
}

proc_state() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1; }

wait_for() { # description command… : poll for up to 60 s
  local what=$1; shift
  for _ in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  die "timed out waiting for $what"
}

up() {
  local n=${1:-2}
  [[ $n =~ ^[1-9]$ ]] || die "N must be 1..9"
  need_root
  for tool in etcd etcdctl busybox curl; do
    command -v "$tool" >/dev/null || die "$tool is missing: run bash deploy/prerequisites.sh --test (as root)"
  done
  [[ -x $DOCKERD ]] || die "dockerd $DOCKERD is not an executable file (set TSNET_LAB_DOCKERD)"
  [[ -x $DOCKER ]] || die "docker client $DOCKER is not an executable file (set TSNET_LAB_DOCKER)"
  [[ -f $REPO/dist/src/cli.js ]] || (cd "$REPO" && npm run build --silent)
  mkdir -p "$LAB" "$DATA"
  printf 'DOCKERD=%s\nDOCKER=%s\nDOCKERD_PATH=%s\n' "$DOCKERD" "$DOCKER" "$DOCKERD_PATH" >"$LAB/docker.env"
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

tsnet_knows() { # flag : whether `tsnet daemon --help` lists it
  [[ -n $1 ]] && node "$REPO/dist/src/cli.js" daemon --help 2>/dev/null | grep -qE -- "(^|[[:space:]])$1([[:space:]=]|\$)"
}

start_tsnet() { # host [flag…]
  local h=$1 dir=$LAB/$1 var extra=() per_host=() docker_host=()
  shift
  ours "$h-tsnet" >/dev/null && die "tsnet on $h already runs (pid $(cat "$LAB/$h-tsnet.pid"))"
  var=TSNET_EXTRA_ARGS_$h
  read -r -a extra <<<"${TSNET_EXTRA_ARGS:-}"
  read -r -a per_host <<<"${!var:-}"
  if tsnet_knows "$DOCKER_HOST_FLAG"; then docker_host=("$DOCKER_HOST_FLAG" "unix://$dir/docker.sock"); fi
  start_bg "$h-tsnet" "$dir/tsnet.log" nsenter --net="/run/netns/$(host_ns "$h")" env MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=16384 MALLOC_TRIM_THRESHOLD_=65536 node --max-semi-space-size=1 --optimize-for-size "$REPO/dist/src/cli.js" daemon \
    --socket "$dir/plugins/tsnet.sock" --state-dir "$DATA/$h/tsnet" --host-id "$h" --etcd-endpoints "$ETCD_URL" \
    "${docker_host[@]}" "${extra[@]}" "${per_host[@]}" "$@"
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
  local dns_args=() d
  for d in "${LAB_DNS[@]}"; do dns_args+=(--dns "$d"); done
  # dockerd needs the host's cgroup mounts, so it is entered with nsenter (not ip netns exec),
  # in a private mount namespace whose /run/docker/plugins is this host's own directory and whose
  # /run/containerd is empty (so it starts a containerd of its own). Copies of other namespaces'
  # nsfs mounts are dropped: they would keep those namespaces alive as long as this dockerd runs.
  # Its containers go in the cgroup /<lab>-<host>, so `down` can find whatever they leave.
  # The lab has no registry: a swarm task runs the image the host has instead of pulling it
  # (dockerd's DOCKER_SERVICE_PREFER_OFFLINE_IMAGE), so nothing is looked up outside the lab.
  start_bg "$h-dockerd" "$dir/dockerd.log" env PATH="$DOCKERD_PATH" DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 nsenter --net="/run/netns/$ns" unshare -m -u --propagation private sh -c '
    set -e
    mkdir -p /run/docker/plugins /run/containerd
    mount --bind "$1/plugins" /run/docker/plugins
    mount -t tmpfs tmpfs /run/containerd
    grep " - nsfs " /proc/self/mountinfo | while read -r _ _ _ _ mp _; do umount -l "$mp" 2>/dev/null || true; done
    hostname "$2"
    dir=$1 root=$3 dockerd=$4 cgroup=$5
    shift 5
    exec "$dockerd" --data-root "$root" --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" -H "unix://$dir/docker.sock" --cgroup-parent "$cgroup" "$@"' \
    sh "$dir" "$h" "$DATA/$h/docker" "$DOCKERD" "/$ns" "${dns_args[@]}"
  start_tsnet "$h"
  wait_for "dockerd on $h" "$DOCKER" -H "unix://$dir/docker.sock" version
  if ! "$DOCKER" -H "unix://$dir/docker.sock" image inspect tsbox >/dev/null 2>&1; then
    local root
    root=$(mktemp -d)
    mkdir -p "$root/bin" "$root/tmp"
    cp /bin/busybox "$root/bin/"
    for a in sh ip ping nc sleep cat hostname true ifconfig route echo ls chroot arp nslookup wget httpd; do ln -s busybox "$root/bin/$a"; done
    tar -C "$root" -c . | "$DOCKER" -H "unix://$dir/docker.sock" import -c 'CMD ["sh"]' - tsbox:latest >/dev/null
    rm -rf "$root"
  fi
  echo "$h: underlay $SUBNET_PREFIX.$i, docker -H unix://$dir/docker.sock ($("$DOCKER" -H "unix://$dir/docker.sock" version --format 'client {{.Client.Version}}, dockerd {{.Server.Version}}'))"
}

lab_namespaces() { ip netns list | awk '{print $1}' | grep "^$NAME-" || true; }

lab_cgroups() { # every cgroup directory dockerd made for the lab's containers, deepest first
  local d
  for d in /sys/fs/cgroup/*/"$NAME"-h[1-9] /sys/fs/cgroup/"$NAME"-h[1-9]; do
    [[ -d $d ]] && find "$d" -depth -type d
  done
  return 0
}

lab_processes() { # PIDs in the lab's network namespaces (still named, so not reused) or its cgroups
  local ids=() ns d
  for ns in $(lab_namespaces); do ids+=("net:[$(stat -L -c %i "/run/netns/$ns")]"); done
  {
    if ((${#ids[@]} > 0)); then
      find /proc/[0-9]*/ns/net -maxdepth 0 -printf '%p %l\n' 2>/dev/null \
        | awk -v ids="${ids[*]}" 'BEGIN { n = split(ids, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 } want[$2] { split($1, p, "/"); print p[3] }'
    fi
    lab_cgroups | while read -r d; do cat "$d/cgroup.procs" 2>/dev/null || true; done
  } | sort -un | while read -r pid; do alive "$pid" && echo "$pid"; done
  return 0
}

down() {
  need_root
  local h ids problems=() left=() ns d pid
  # Containers go first, while tsnet still answers: dockerd retries a missing plugin for about
  # 30 s per call, so removing them after tsnet would take minutes. Whatever this leaves is
  # ended by PID below, so it is reported but is not what makes `down` fail.
  for pidfile in "$LAB"/*-dockerd.pid; do
    [[ -e $pidfile ]] || continue
    h=${pidfile##*/}; h=${h%-dockerd.pid}
    ours "$h-dockerd" >/dev/null || continue
    pid=$(ours "$h-tsnet") && kill -CONT "$pid" 2>/dev/null || true
    ids=$(timeout 60 "$DOCKER" -H "unix://$LAB/$h/docker.sock" ps -aq 2>/dev/null || true)
    [[ -z $ids ]] || timeout 120 "$DOCKER" -H "unix://$LAB/$h/docker.sock" rm -f $ids >/dev/null 2>&1 \
      || echo "lab.sh: could not remove every container on $h; ending what they leave by PID" >&2
  done
  # Every step runs, whatever failed before it; the failures are listed at the end.
  for pidfile in "$LAB"/*-tsnet.pid "$LAB"/*-dockerd.pid "$LAB"/etcd.pid; do
    [[ -e $pidfile ]] || continue
    stop_pid "$(basename "$pidfile" .pid)" || problems+=("$(basename "$pidfile" .pid) (pid $(cat "$pidfile")) would not end")
  done
  # The lab's namespaces are still there, so their processes can be told from anyone else's.
  mapfile -t left < <(lab_processes)
  if ((${#left[@]} > 0)); then
    echo "lab.sh: ending processes the lab left behind: $(describe_pids "${left[@]}")" >&2
    kill -TERM "${left[@]}" 2>/dev/null || true
    for _ in $(seq 20); do [[ -z $(still_alive "${left[@]}") ]] && break; sleep 0.1; done
    mapfile -t left < <(still_alive "${left[@]}")
    if ((${#left[@]} > 0)); then
      kill -KILL "${left[@]}" 2>/dev/null || true
      for _ in $(seq 50); do [[ -z $(still_alive "${left[@]}") ]] && break; sleep 0.1; done
      mapfile -t left < <(still_alive "${left[@]}")
      ((${#left[@]} == 0)) || problems+=("processes $(describe_pids "${left[@]}") would not end")
    fi
  fi
  for ns in $(lab_namespaces); do
    ip netns delete "$ns" 2>/dev/null || true
  done
  for ns in $(lab_namespaces); do
    problems+=("namespace $ns is left, with links: $(ip -n "$ns" -o link show 2>/dev/null | awk -F': ' '{print $2}' | tr '\n' ' ')")
  done
  # A cgroup whose last task just exited can refuse rmdir for a moment.
  for _ in $(seq 20); do
    mapfile -t left < <(lab_cgroups)
    ((${#left[@]} == 0)) && break
    for d in "${left[@]}"; do rmdir "$d" 2>/dev/null || true; done
    mapfile -t left < <(lab_cgroups)
    ((${#left[@]} == 0)) && break
    sleep 0.1
  done
  ((${#left[@]} == 0)) || problems+=("cgroups ${left[*]} are left")
  rm -rf "$DATA" || problems+=("could not remove $DATA")
  if ((${#problems[@]} == 0)); then
    rm -rf "$LAB" || problems+=("could not remove $LAB")
  fi
  if ((${#problems[@]} > 0)); then
    printf 'lab.sh: down left things behind:\n' >&2
    printf '  - %s\n' "${problems[@]}" >&2
    [[ -d $LAB ]] && echo "  (PID files and logs are kept in $LAB)" >&2
    exit 1
  fi
  echo "lab is down"
}

status() {
  for f in "$LAB"/*.pid; do
    [[ -e $f ]] || { echo "nothing runs"; return 0; }
    local pid state; pid=$(cat "$f")
    if ! ours "$(basename "$f" .pid)" >/dev/null; then state=dead; elif [[ $(proc_state "$pid") == T ]]; then state=paused; else state=running; fi
    printf '%-14s pid %-7s %s\n' "$(basename "$f" .pid)" "$pid" "$state"
  done
  echo "dockerd $DOCKERD, client $DOCKER"
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
      start) shift 2; start_tsnet "$h" "$@" ;;
      stop) stop_pid "$h-tsnet" ;;
      kill)
        pid=$(signal_tsnet "$h" KILL)
        for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && die "tsnet on $h (pid $pid) survived SIGKILL"
        rm -f "$LAB/$h-tsnet.pid" "$LAB/$h-tsnet.start" ;;
      pause)
        pid=$(signal_tsnet "$h" STOP)
        for _ in $(seq 50); do [[ $(proc_state "$pid") == T ]] && break; sleep 0.1; done
        [[ $(proc_state "$pid") == T ]] || die "tsnet on $h (pid $pid) did not stop on SIGSTOP" ;;
      resume) signal_tsnet "$h" CONT >/dev/null ;;
      *) die "tsnet H start [FLAGS…]|stop|kill|pause|resume" ;;
    esac ;;
  etcd)
    case ${1:-} in
      start) start_etcd ;;
      stop) stop_pid etcd ;;
      *) die "etcd start|stop" ;;
    esac ;;
  exec) h=${1:?host}; shift; exec ip netns exec "$(host_ns "$h")" "$@" ;;
  *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 2 ;;
esac
