#!/usr/bin/env bash
# Fetches dockerd 28.5.2 for tsnet's test matrix WITHOUT installing anything:
# Debian unstable's docker.io 28.5.2, docker-cli 28.5.2 and containerd 2.1.9 packages are
# downloaded with a private apt configuration (its own sources list, lists and cache directories
# under a temporary directory), unpacked with `dpkg-deb -x` into a cache directory, checked, and
# the directory is printed on stdout (nothing else goes to stdout). A second run finds the cache
# and only re-checks it. Debian 12's own docker.io, containerd and runc are never touched: the
# system's sources, lists, cache and dpkg database are not written to.
#
#   bash deploy/docker-28/fetch.sh            # prints e.g. /var/cache/tsnet/docker-28.5
#
# Then, e.g.:  D=$(bash deploy/docker-28/fetch.sh)
#   PATH=$D/usr/sbin:$D/usr/bin:/usr/sbin:/usr/bin:/sbin:/bin $D/usr/sbin/dockerd …
# Unstable's runc needs a newer glibc than Debian 12's, so it is not fetched: dockerd finds
# Debian 12's /usr/sbin/runc on that PATH (install it with deploy/prerequisites.sh).
#
# The versions are pinned, with the SHA-256 of each .deb (amd64): when unstable moves on, the
# script stops with a message naming the version unstable has now, instead of silently testing
# another dockerd. To move the matrix to it, change the pins below and run the e2e suite on it.
#
# Environment:
#   TSNET_DOCKER28_DIR    the cache directory (default /var/cache/tsnet/docker-28.5)
#   TSNET_DOCKER28_MIRROR the Debian mirror (default http://deb.debian.org/debian)
#   TSNET_DOCKER28_DEBS   a directory that already holds the three pinned .deb files (offline use);
#                         they are checked against the pinned SHA-256 like downloaded ones
set -euo pipefail

DOCKER_DEB_VERSION=28.5.2+dfsg4-5
CONTAINERD_DEB_VERSION=2.1.9+ds1-5
DOCKER_UPSTREAM=28.5.2
CONTAINERD_UPSTREAM=2.1.9
declare -A SHA256=(
  [docker.io]=69a59cc77a1fb8ee9ad6859abc2e6de5d76b70887405595c2b1307818fecf682
  [docker-cli]=8ea2428acdda666f41263f5a0d3a85681a696491361574eb7bd721a1194939b9
  [containerd]=2dda86ce7033fd612fc50e136679d8174ccad680eb29cd4611e0d2a1b84cf591
)
declare -A VERSION=([docker.io]=$DOCKER_DEB_VERSION [docker-cli]=$DOCKER_DEB_VERSION [containerd]=$CONTAINERD_DEB_VERSION)
PACKAGES=(docker.io docker-cli containerd)

DIR=${TSNET_DOCKER28_DIR:-/var/cache/tsnet/docker-28.5}
MIRROR=${TSNET_DOCKER28_MIRROR:-http://deb.debian.org/debian}
STAMP=$DIR/.tsnet-docker28
WANT="docker.io=$DOCKER_DEB_VERSION docker-cli=$DOCKER_DEB_VERSION containerd=$CONTAINERD_DEB_VERSION"

die() { echo "fetch.sh: $*" >&2; exit 1; }
say() { echo "fetch.sh: $*" >&2; }

# Checks an unpacked tree: every binary the matrix uses is there and reports the pinned version.
check() { # dir
  local d=$1 out
  for f in usr/sbin/dockerd usr/sbin/docker-proxy usr/bin/docker usr/bin/containerd usr/bin/containerd-shim-runc-v2; do
    [[ -x $d/$f ]] || { say "$d/$f is missing or not executable"; return 1; }
  done
  # runc must come from Debian 12 (/usr/sbin/runc): unstable's needs a newer glibc.
  [[ ! -e $d/usr/sbin/runc && ! -e $d/usr/bin/runc ]] || { say "$d holds a runc; dockerd would pick it instead of Debian 12's"; return 1; }
  out=$("$d/usr/sbin/dockerd" --version 2>&1) || { say "$d/usr/sbin/dockerd --version failed: $out"; return 1; }
  [[ $out == "Docker version $DOCKER_UPSTREAM"[,+-]* ]] || { say "dockerd says \"$out\", not $DOCKER_UPSTREAM"; return 1; }
  out=$("$d/usr/bin/docker" --version 2>&1) || { say "$d/usr/bin/docker --version failed: $out"; return 1; }
  [[ $out == "Docker version $DOCKER_UPSTREAM"[,+-]* ]] || { say "docker says \"$out\", not $DOCKER_UPSTREAM"; return 1; }
  out=$("$d/usr/bin/containerd" --version 2>&1) || { say "$d/usr/bin/containerd --version failed: $out"; return 1; }
  [[ " $out " == *" $CONTAINERD_UPSTREAM"[\ +~-]* ]] || { say "containerd says \"$out\", not $CONTAINERD_UPSTREAM"; return 1; }
  [[ -x /usr/sbin/runc ]] || say "warning: /usr/sbin/runc (Debian 12's runc) is missing; dockerd cannot start containers without it (bash deploy/prerequisites.sh --test)"
  return 0
}

# The cache as a previous run left it.
if [[ -f $STAMP && $(cat "$STAMP") == "$WANT" ]] && check "$DIR"; then
  echo "$DIR"
  exit 0
fi

[[ $(id -u) -eq 0 ]] || die "run as root (it writes $DIR; apt-get download runs unprivileged parts as _apt)"
arch=$(dpkg --print-architecture)
[[ $arch == amd64 ]] || die "the pinned SHA-256 sums are for amd64 packages; this machine is $arch"
for tool in apt-get apt-cache dpkg-deb sha256sum flock; do command -v "$tool" >/dev/null || die "$tool is missing"; done

mkdir -p "$(dirname "$DIR")"
# One fetch at a time (two CI jobs on one machine): the second waits, then finds the cache.
exec 9>"$DIR.lock"
flock 9
if [[ -f $STAMP && $(cat "$STAMP") == "$WANT" ]] && check "$DIR" 2>/dev/null; then
  echo "$DIR"
  exit 0
fi

work=$(mktemp -d /tmp/tsnet-docker28-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/tree"
# apt-get download drops privileges to _apt; it must be able to write there.
chmod 755 "$work"
chown _apt "$work/debs" 2>/dev/null || true

if [[ -n ${TSNET_DOCKER28_DEBS:-} ]]; then
  for p in "${PACKAGES[@]}"; do
    f="$TSNET_DOCKER28_DEBS/${p}_${VERSION[$p]//:/%3a}_amd64.deb"
    [[ -f $f ]] || die "TSNET_DOCKER28_DEBS=$TSNET_DOCKER28_DEBS has no $(basename "$f")"
    cp "$f" "$work/debs/"
  done
else
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR unstable main" >"$work/sources.list"
  APT=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache")
  say "reading Debian unstable's package lists from $MIRROR (private apt state in $work)"
  apt-get "${APT[@]}" -q update >&2 || die "apt-get update of the unstable suite failed (network? mirror $MIRROR)"
  missing=()
  for p in "${PACKAGES[@]}"; do
    # Exact pinned version, or a clear message naming what unstable offers now.
    # (`apt-cache show p=v` exits 0 even when v does not exist; madison lists what the suite has.)
    now=$(apt-cache "${APT[@]}" madison "$p" 2>/dev/null | awk -F' [|] ' '$3 ~ / unstable\// { print $2 }' | paste -sd' ')
    [[ " $now " == *" ${VERSION[$p]} "* ]] || missing+=("$p ${VERSION[$p]} (unstable has ${now:-none} now)")
  done
  if ((${#missing[@]} > 0)); then
    die "Debian unstable no longer has the pinned packages: ${missing[*]}.
  tsnet's test matrix is pinned to dockerd $DOCKER_UPSTREAM so that a new upload is tested on purpose, not by accident.
  Either move the pins in $0 (versions and SHA-256) to the new packages and run the e2e suite on them
  (TSNET_E2E_DOCKER=28.5 npx vitest run --project e2e), or point TSNET_DOCKER28_DEBS at a directory
  holding the pinned .deb files."
  fi
  specs=()
  for p in "${PACKAGES[@]}"; do specs+=("$p=${VERSION[$p]}"); done
  say "downloading ${specs[*]}"
  (cd "$work/debs" && apt-get "${APT[@]}" -q download "${specs[@]}" >&2) || die "apt-get download ${specs[*]} failed"
fi

for p in "${PACKAGES[@]}"; do
  f=$(ls "$work/debs/${p}_"*.deb 2>/dev/null | head -n1)
  [[ -n $f ]] || die "no .deb for $p was downloaded"
  v=$(dpkg-deb -f "$f" Version)
  [[ $v == "${VERSION[$p]}" ]] || die "$(basename "$f") is version $v, not the pinned ${VERSION[$p]}"
  sum=$(sha256sum "$f" | cut -d' ' -f1)
  [[ $sum == "${SHA256[$p]}" ]] || die "$(basename "$f") has SHA-256 $sum, not the pinned ${SHA256[$p]}"
  dpkg-deb -x "$f" "$work/tree"
done
# Nothing of unstable's runc: containerd's package does not ship one, and it must stay so.
rm -f "$work/tree/usr/sbin/runc" "$work/tree/usr/bin/runc"
check "$work/tree" || die "the unpacked packages fail the check above"
echo "$WANT" >"$work/tree/.tsnet-docker28"

# Swap the new tree in whole, so a reader never sees half of one.
new="$DIR.new.$$"
rm -rf "$new"
mv "$work/tree" "$new"
chmod 755 "$new"
if [[ -e $DIR ]]; then
  old="$DIR.old.$$"
  mv "$DIR" "$old"
  mv "$new" "$DIR"
  rm -rf "$old"
else
  mv "$new" "$DIR"
fi
say "dockerd $DOCKER_UPSTREAM, docker $DOCKER_UPSTREAM and containerd $CONTAINERD_UPSTREAM are in $DIR"
echo "$DIR"
