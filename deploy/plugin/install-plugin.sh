#!/usr/bin/env bash
# Creates and enables tsnet as a Docker managed plugin from a directory made by build.sh:
#
#   bash deploy/plugin/install-plugin.sh [DIR]             # docker plugin create + set + enable
#   bash deploy/plugin/install-plugin.sh --uninstall       # docker plugin disable + rm
#   bash deploy/plugin/install-plugin.sh --upgrade REMOTE  # docker plugin upgrade to REMOTE
#
# DIR defaults to build.sh's default output (/var/cache/tsnet/plugin/tsnet-VERSION). The plugin
# is named tsnet:VERSION (package.json), so networks are made with `-d tsnet:VERSION`.
# --uninstall refuses while Docker has networks of the plugin (Docker would refuse too): remove
# their containers, then the networks, first.
# --upgrade replaces the plugin's rootfs and config by REMOTE (a plugin pushed to a registry with
# `docker plugin push`; Docker upgrades only from a registry) under the same name, so networks
# and containers stay: it disables the plugin (-f: its networks exist), upgrades, sets the mount
# sources again (Docker resets them to the new config's defaults on upgrade, though `docker
# plugin inspect` still shows the old ones under Settings) and enables it.
#
# Environment (defaults in brackets):
#   TSNET_PLUGIN_NAME   plugin reference [tsnet:VERSION]
#   TSNET_STATE_DIR     host directory mounted as the plugin's state directory [/var/lib/tsnet]
#   TSNET_RUN_DIR       host directory for the admin socket (admin.sock) [/run/tsnet]
#   TSNET_ETCD_TLS_DIR  host directory of the etcd TLS files, mounted at /etc/tsnet/etcd [/etc/tsnet/etcd]
#   DOCKER_EXEC_ROOT    dockerd's --exec-root, mounted read-only so tsnet sees which sandboxes
#                       exist [/var/run/docker]
#   DOCKER_HOST         the Docker to install into; its unix socket is also mounted into the
#                       plugin so tsnet can converge with Docker [unix:///var/run/docker.sock]
#   DOCKER              the docker client [docker]
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(node -p 'require("./package.json").version' 2>/dev/null || sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' package.json | head -n1)
name=${TSNET_PLUGIN_NAME:-tsnet:$version}
state_dir=${TSNET_STATE_DIR:-/var/lib/tsnet}
run_dir=${TSNET_RUN_DIR:-/run/tsnet}
etcd_tls_dir=${TSNET_ETCD_TLS_DIR:-/etc/tsnet/etcd}
exec_root=${DOCKER_EXEC_ROOT:-/var/run/docker}
docker=${DOCKER:-docker}
docker_api=${DOCKER_HOST:-unix:///var/run/docker.sock}

die() { echo "install-plugin.sh: $*" >&2; exit 1; }

networks_of_plugin() {
  "$docker" network ls --filter "driver=$name" --format '{{.Name}}'
}

if [[ ${1:-} == --uninstall ]]; then
  "$docker" plugin inspect "$name" >/dev/null 2>&1 || { echo "plugin $name is not installed"; exit 0; }
  nets=$(networks_of_plugin | paste -sd' ' -)
  [[ -z $nets ]] || die "Docker still has networks of $name: $nets (remove their containers, then the networks)"
  if [[ $("$docker" plugin inspect -f '{{.Enabled}}' "$name") == true ]]; then "$docker" plugin disable "$name" >/dev/null; fi
  "$docker" plugin rm "$name" >/dev/null
  echo "plugin $name is removed (its state stays in $state_dir)"
  exit 0
fi

set_mounts() {
  local settings=()
  [[ $state_dir == /var/lib/tsnet ]] || settings+=("state.source=$state_dir")
  [[ $run_dir == /run/tsnet ]] || settings+=("run.source=$run_dir")
  [[ $docker_socket == /var/run/docker.sock ]] || settings+=("docker-socket.source=$docker_socket")
  [[ $etcd_tls_dir == /etc/tsnet/etcd ]] || settings+=("etcd-tls.source=$etcd_tls_dir")
  [[ $exec_root == /var/run/docker ]] || settings+=("docker-exec-root.source=$exec_root")
  if ((${#settings[@]})); then "$docker" plugin set "$name" "${settings[@]}"; fi
}
[[ $docker_api == unix://* ]] || die "DOCKER_HOST=$docker_api: the plugin reads the Docker API through a unix socket only"
docker_socket=${docker_api#unix://}

if [[ ${1:-} == --upgrade ]]; then
  remote=${2:-}
  [[ -n $remote ]] || die "--upgrade needs the new plugin's reference in a registry (docker plugin push)"
  "$docker" plugin inspect "$name" >/dev/null 2>&1 || die "plugin $name is not installed"
  if [[ $("$docker" plugin inspect -f '{{.Enabled}}' "$name") == true ]]; then "$docker" plugin disable -f "$name" >/dev/null; fi
  "$docker" plugin upgrade --grant-all-permissions --skip-remote-check "$name" "$remote" >/dev/null
  now=$("$docker" plugin inspect -f '{{range .Config.Mounts}}{{if eq .Name "state"}}{{.Source}}{{end}}{{end}}' "$name")
  [[ $now == "$state_dir" ]] || echo "docker plugin upgrade reset the state mount to $now; setting the mount sources again"
  set_mounts
  "$docker" plugin enable "$name" >/dev/null
  echo "plugin $name is upgraded to $remote and enabled"
  exit 0
fi

dir=${1:-/var/cache/tsnet/plugin/tsnet-$version}
[[ -f $dir/config.json && -d $dir/rootfs ]] || die "$dir is not a plugin directory (bash deploy/plugin/build.sh makes one)"
[[ -S $docker_socket ]] || die "$docker_socket is not a socket (is dockerd running?)"
"$docker" plugin inspect "$name" >/dev/null 2>&1 && die "plugin $name exists already (docker plugin ls); --uninstall it first"

# Bind-mount sources must exist before the plugin starts.
mkdir -p "$state_dir" "$run_dir" "$etcd_tls_dir"
chmod 0700 "$state_dir" "$etcd_tls_dir"
[[ -d $exec_root ]] || die "$exec_root is not a directory: set DOCKER_EXEC_ROOT to dockerd's --exec-root"
"$docker" plugin create "$name" "$dir" >/dev/null
set_mounts
if ! "$docker" plugin enable "$name" >/dev/null; then
  "$docker" plugin rm "$name" >/dev/null 2>&1 || true
  die "docker plugin enable $name failed (see dockerd's log); the plugin was removed again"
fi
echo "plugin $name is enabled: docker network create -d $name …"
