#!/usr/bin/env bash
# Installs and starts tsnet on this host (Debian 12, as root):
#   1. Debian packages (docker.io, iptables, iproute2) and Node.js check
#   2. npm ci + build, a `tsnet` command in /usr/local/bin
#   3. the daemon, under systemd when systemd runs, otherwise as a background process
#   4. dockerd, if it is not running yet
# Afterwards `docker network create -d tsnet …` works. Re-running upgrades in place.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
socket=/run/docker/plugins/tsnet.sock
state_dir=${TSNET_STATE_DIR:-/var/lib/tsnet}

bash deploy/prerequisites.sh
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent
chmod +x dist/src/cli.js
ln -sf "$repo/dist/src/cli.js" /usr/local/bin/tsnet

have_systemd() { [[ -d /run/systemd/system ]]; }

if have_systemd; then
  sed "s|@TSNET@|$repo/dist/src/cli.js|; s|@NODE@|$(command -v node)|" deploy/tsnet.service > /etc/systemd/system/tsnet.service
  systemctl daemon-reload
  systemctl enable --now docker.service
  systemctl enable tsnet.service
  systemctl restart tsnet.service
else
  # No systemd (a container or a minimal VM): supervise with a pid file instead.
  if ! /usr/bin/docker version >/dev/null 2>&1; then
    nohup dockerd >/var/log/dockerd.log 2>&1 &
  fi
  if [[ -f /run/tsnet.pid ]] && kill -0 "$(cat /run/tsnet.pid)" 2>/dev/null; then
    kill -TERM "$(cat /run/tsnet.pid)"
    for _ in $(seq 50); do kill -0 "$(cat /run/tsnet.pid)" 2>/dev/null || break; sleep 0.1; done
  fi
  nohup node "$repo/dist/src/cli.js" daemon --socket "$socket" --state-dir "$state_dir" >>/var/log/tsnet.log 2>&1 &
  echo $! >/run/tsnet.pid
fi

# Our daemon must be the one answering: a stale one would make the check pass falsely.
daemon_alive() {
  if have_systemd; then systemctl is-active --quiet tsnet.service; else kill -0 "$(cat /run/tsnet.pid)" 2>/dev/null; fi
}
for _ in $(seq 100); do
  daemon_alive || break
  if [[ -S $socket ]] && curl -sf --unix-socket "$socket" -X POST http://tsnet/Plugin.Activate >/dev/null 2>&1; then break; fi
  sleep 0.1
done
if ! daemon_alive || ! curl -sf --unix-socket "$socket" -X POST http://tsnet/Plugin.Activate >/dev/null; then
  echo "tsnet did not start; see $(have_systemd && echo 'journalctl -u tsnet' || echo /var/log/tsnet.log):" >&2
  have_systemd || tail -n 5 /var/log/tsnet.log >&2
  exit 1
fi
for _ in $(seq 100); do /usr/bin/docker version >/dev/null 2>&1 && break; sleep 0.2; done
/usr/bin/docker version >/dev/null || { echo "dockerd is not answering; see /var/log/dockerd.log" >&2; exit 1; }
echo "tsnet is running. Try: docker network create -d tsnet --subnet 10.20.0.0/24 tsnet-demo"
