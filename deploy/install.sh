#!/usr/bin/env bash
# Installs and starts tsnet on this host (Debian 12, as root):
#   1. Debian packages (docker.io, iptables, iproute2) and Node.js check
#   2. npm ci + build, a `tsnet` command in /usr/local/bin
#   3. the daemon, under systemd when systemd runs, otherwise as a background process
#   4. dockerd, if it is not running yet
# Afterwards `docker network create -d tsnet …` works. Re-running upgrades in place.
#
#   bash deploy/install.sh --uninstall [--purge]
# stops the daemon and removes the unit (or pid file) and the command. It refuses while Docker
# still has tsnet networks (remove them first, or add --force to leave them, with their
# bridges and rules, in place). --purge also deletes the state directory and the log.
#
#   bash deploy/install.sh --render-unit
# prints the systemd unit as it would be installed (deploy/tsnet.service with this host's paths)
# and changes nothing.
#
# Environment (defaults in brackets), for hosts laid out differently and for the tests, which
# run this script in a simulated host:
#   TSNET_SOCKET     plugin socket [/run/docker/plugins/tsnet.sock]
#   TSNET_STATE_DIR  state directory [/var/lib/tsnet]
#   TSNET_BIN_DIR    where the `tsnet` command is linked [/usr/local/bin]
#   TSNET_INIT       auto, systemd or background [auto: systemd when it runs]
#   TSNET_PID_FILE   background mode's pid file [/run/tsnet.pid]
#   TSNET_LOG_FILE   background mode's log [/var/log/tsnet.log]
#   DOCKER_HOST      the Docker daemon to check and to converge with (tsnet --docker-host), and,
#                    when unset, the local one (unix:///var/run/docker.sock) to start
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
socket=${TSNET_SOCKET:-/run/docker/plugins/tsnet.sock}
state_dir=${TSNET_STATE_DIR:-/var/lib/tsnet}
# The Docker API tsnet converges with (tsnet daemon --docker-host): the dockerd that uses it.
docker_api=${DOCKER_HOST:-unix:///var/run/docker.sock}
if [[ $docker_api != unix://* ]]; then
  echo "install.sh: tsnet reads the Docker API on a unix socket only; DOCKER_HOST=$docker_api is not one, so tsnet runs with --docker-host none (no convergence with Docker)" >&2
  docker_api=none
fi
bin_dir=${TSNET_BIN_DIR:-/usr/local/bin}
pid_file=${TSNET_PID_FILE:-/run/tsnet.pid}
log_file=${TSNET_LOG_FILE:-/var/log/tsnet.log}
unit=/etc/systemd/system/tsnet.service
docker=/usr/bin/docker

case ${TSNET_INIT:-auto} in
  auto) if [[ -d /run/systemd/system ]]; then init=systemd; else init=background; fi ;;
  systemd | background) init=$TSNET_INIT ;;
  *) echo "install.sh: TSNET_INIT must be auto, systemd or background, not \"$TSNET_INIT\"" >&2; exit 2 ;;
esac

# The background daemon's pid, if it runs (an empty answer otherwise).
background_pid() {
  local pid
  pid=$(cat "$pid_file" 2>/dev/null || true)
  if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}

# SIGTERM to the background daemon; it finishes the calls in flight and removes its socket.
stop_background() {
  local pid
  pid=$(background_pid)
  [[ -n $pid ]] || return 0
  kill -TERM "$pid"
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  echo "install.sh: tsnet (pid $pid) did not stop within 30 s of SIGTERM" >&2
  return 1
}

uninstall() {
  local purge=false force=false arg nets
  for arg in "$@"; do
    case $arg in
      --purge) purge=true ;;
      --force) force=true ;;
      *) echo "install.sh --uninstall: unknown option $arg (use --purge, --force)" >&2; exit 2 ;;
    esac
  done
  if "$docker" version >/dev/null 2>&1; then
    nets=$("$docker" network ls --filter driver=tsnet --format '{{.Name}}')
    if [[ -n $nets && $force == false ]]; then
      echo "install.sh --uninstall: Docker still has tsnet networks: $(echo "$nets" | tr '\n' ' ')" >&2
      echo "Remove them first (docker network rm …), or add --force to leave them and their bridges as they are." >&2
      exit 1
    fi
  fi
  if [[ $init == systemd ]]; then
    if [[ -f $unit ]]; then
      systemctl disable --now tsnet.service
      rm -f "$unit"
      systemctl daemon-reload
    fi
  else
    stop_background
    rm -f "$pid_file"
  fi
  if [[ -L $bin_dir/tsnet && $(readlink "$bin_dir/tsnet") == "$repo/dist/src/cli.js" ]]; then rm -f "$bin_dir/tsnet"; fi
  # The admin socket's directory (the daemon removes the socket itself when it stops).
  rmdir /run/tsnet 2>/dev/null || true
  # The resolver's address (tsnet daemon --dns-listen, default 169.254.53.53), which the daemon
  # keeps on lo when it stops so that queries to it fail at once; gone with tsnet.
  ip addr del "${TSNET_DNS_LISTEN:-169.254.53.53}/32" dev lo 2>/dev/null || true
  if [[ $purge == true ]]; then
    rm -rf "$state_dir"
    if [[ $init == background ]]; then rm -f "$log_file"; fi
    echo "tsnet is uninstalled; its state ($state_dir) is deleted."
  else
    echo "tsnet is uninstalled; its state is kept in $state_dir (--purge deletes it)."
  fi
}

# deploy/tsnet.service with this host's paths. ProtectHome=yes would hide node or the checkout
# when either lives under /home, /root or /run/user: read-only then.
render_unit() {
  local node path protect_home=yes
  node=$(command -v node)
  for path in "$repo" "$node"; do
    case $path in /home/* | /root/* | /run/user/*) protect_home=read-only ;; esac
  done
  sed -e "s|@TSNET@|$repo/dist/src/cli.js|" -e "s|@NODE@|$node|" \
      -e "s|@SOCKET@|$socket|" -e "s|@SOCKET_DIR@|$(dirname "$socket")|g" -e "s|@STATE_DIR@|$state_dir|g" \
      -e "s|@DOCKER_HOST@|$docker_api|" -e "s|@PROTECT_HOME@|$protect_home|" deploy/tsnet.service
}

if [[ ${1:-} == --render-unit ]]; then
  render_unit
  exit 0
elif [[ ${1:-} == --uninstall ]]; then
  shift
  uninstall "$@"
  exit 0
elif [[ $# -gt 0 ]]; then
  echo "install.sh: unknown argument $1 (no argument installs; --uninstall [--purge] [--force] removes; --render-unit prints the systemd unit)" >&2
  exit 2
fi

bash deploy/prerequisites.sh
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent
chmod +x dist/src/cli.js
mkdir -p "$bin_dir"
ln -sf "$repo/dist/src/cli.js" "$bin_dir/tsnet"

if [[ $init == systemd ]]; then
  render_unit > "$unit"
  systemctl daemon-reload
  systemctl enable --now docker.service
  systemctl enable tsnet.service
  systemctl restart tsnet.service
else
  # No systemd (a container or a minimal VM): supervise with a pid file instead.
  if ! "$docker" version >/dev/null 2>&1; then
    if [[ -n ${DOCKER_HOST:-} ]]; then
      echo "install.sh: dockerd at DOCKER_HOST=$DOCKER_HOST is not answering, and only a local one can be started here" >&2
      exit 1
    fi
    nohup dockerd >/var/log/dockerd.log 2>&1 &
  fi
  stop_background
  mkdir -p "$(dirname "$socket")" "$(dirname "$pid_file")" "$(dirname "$log_file")"
  # The flags and environment of deploy/tsnet.service (src/core/node-flags.ts says why).
  MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=16384 MALLOC_TRIM_THRESHOLD_=65536 nohup node --max-semi-space-size=1 --optimize-for-size "$repo/dist/src/cli.js" daemon --socket "$socket" --state-dir "$state_dir" --docker-host "$docker_api" >>"$log_file" 2>&1 </dev/null &
  echo $! >"$pid_file"
fi

# Our daemon must be the one answering: a stale one would make the check pass falsely.
daemon_alive() {
  if [[ $init == systemd ]]; then systemctl is-active --quiet tsnet.service; else [[ -n $(background_pid) ]]; fi
}
for _ in $(seq 300); do
  daemon_alive || break
  if [[ -S $socket ]] && curl -sf --unix-socket "$socket" -X POST http://tsnet/Plugin.Activate >/dev/null 2>&1; then break; fi
  sleep 0.1
done
if ! daemon_alive || ! curl -sf --unix-socket "$socket" -X POST http://tsnet/Plugin.Activate >/dev/null; then
  echo "tsnet did not start; see $([[ $init == systemd ]] && echo 'journalctl -u tsnet' || echo "$log_file"):" >&2
  [[ $init == systemd ]] || tail -n 5 "$log_file" >&2
  exit 1
fi
for _ in $(seq 100); do "$docker" version >/dev/null 2>&1 && break; sleep 0.2; done
"$docker" version >/dev/null || { echo "dockerd is not answering; see /var/log/dockerd.log" >&2; exit 1; }
echo "tsnet is running. Try: docker network create -d tsnet --subnet 10.20.0.0/24 tsnet-demo"
