#!/usr/bin/env bash
# Runs the e2e project once per dockerd version (README "Testing"): Debian 12's dockerd 20.10,
# then Debian unstable's dockerd 28.5 (fetched and cached by deploy/docker-28/fetch.sh first).
# Every version runs even when an earlier one failed; a summary line per version follows, and
# the exit code is non-zero if any failed.
#
#   bash test/support/e2e-matrix.sh              # 20.10 then 28.5
#   bash test/support/e2e-matrix.sh 28.5         # one version only
#   bash test/support/e2e-matrix.sh 28.5 test/e2e/bridge.test.ts   # further arguments go to vitest
#   (or npm run test:e2e:28.5 -- test/e2e/bridge.test.ts)
set -uo pipefail
cd "$(dirname "$0")/../.."

versions=()
while (($# > 0)); do
  case $1 in
    --) shift; break ;;
    20.10 | 28.5) versions+=("$1"); shift ;;
    [0-9]*.[0-9]*) echo "e2e-matrix.sh: no dockerd $1 in the matrix (20.10 or 28.5)" >&2; exit 2 ;;
    *) break ;; # the rest goes to vitest
  esac
done
((${#versions[@]} > 0)) || versions=(20.10 28.5)

summary=()
failed=0
# Each version's output is kept until the end, to print its failures again after the summary.
logs=$(mktemp -d -t tsnet-e2e-matrix.XXXXXX)
trap 'rm -rf "$logs"' EXIT
for v in "${versions[@]}"; do
  echo "=== e2e against dockerd $v ==="
  start=$SECONDS
  rc=0
  if [[ $v == 28.5 ]]; then
    # Idempotent: downloads once, then only checks the cache.
    dir=$(bash deploy/docker-28/fetch.sh) || rc=$?
    [[ $rc -eq 0 ]] && export TSNET_DOCKER28_DIR=$dir
  fi
  if [[ $rc -eq 0 ]]; then
    TSNET_E2E_DOCKER=$v npx vitest run --project e2e "$@" 2>&1 | tee "$logs/$v.log"
    rc=${PIPESTATUS[0]}
  fi
  summary+=("e2e dockerd $v: $([[ $rc -eq 0 ]] && echo passed || echo "FAILED (exit $rc)") in $(((SECONDS - start) / 60)) min $(((SECONDS - start) % 60)) s")
  [[ $rc -eq 0 ]] || failed=1
done
# The failures once more, last: a CI that keeps only the end of a long run still shows which
# tests failed and why (vitest prints them mid-output, before the next version's run).
for v in "${versions[@]}"; do
  [[ -s $logs/$v.log ]] || continue
  sed 's/\x1b\[[0-9;]*m//g' "$logs/$v.log" | sed -n '/⎯ \(Failed Tests\|Failed Suites\|Unhandled Errors\)/,$p' | grep -v '^[[:space:]]*$' | head -n 100 >"$logs/$v.failures"
  if [[ -s $logs/$v.failures ]]; then
    echo "=== failures on dockerd $v (first 100 lines) ==="
    cat "$logs/$v.failures"
  fi
done
printf '%s\n' "${summary[@]}"
exit "$failed"
