#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# deploy/run-local.sh with a TMPDIR whose path has a space (and over --tls too): nginx starts,
# serves the page and /api/, and SIGTERM stops everything.
# Usage: tests/dev/run_local_space_test.sh SOURCE_DIR CPPAPI_BINARY
set -euo pipefail
src=$(cd "${1:?usage: $0 SOURCE_DIR CPPAPI_BINARY}" && pwd)
cppapi=${2:?usage: $0 SOURCE_DIR CPPAPI_BINARY}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cppapi space test.XXXXXX")
run_pid=''
cleanup() {
  local status=$?
  if [[ -n $run_pid ]]; then kill -TERM "$run_pid" 2>/dev/null || true; wait "$run_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
fail() { echo "run-local space test: FAIL: $*" >&2; cat "$tmp/out" >&2 || true; exit 1; }

# check [--tls]: start, wait (20 s at most) for the page and /api/hello, stop.
check() {
  local port scheme=http deadline
  [[ ${1:-} == --tls ]] && scheme=https
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  TMPDIR=$tmp "$src/deploy/run-local.sh" --port "$port" --cppapi "$cppapi" "$@" >"$tmp/out" 2>&1 &
  run_pid=$!
  deadline=$((SECONDS + 20))
  until grep -q 'cppAPI demo:' "$tmp/out"; do
    kill -0 "$run_pid" 2>/dev/null || fail "run-local.sh $* exited"
    ((SECONDS < deadline)) || fail "run-local.sh $* did not start within 20 s"
    sleep 0.1
  done
  # Not `curl | grep -q`: under pipefail grep's early exit (SIGPIPE to curl) fails the pipe.
  [[ $(curl -skf --max-time 5 "$scheme://127.0.0.1:$port/" || true) == *"<html"* ]] || fail "no page over $scheme"
  curl -skf --max-time 5 "$scheme://127.0.0.1:$port/api/hello" >/dev/null || fail "no /api/hello over $scheme"
  kill -TERM "$run_pid"
  wait "$run_pid" || fail "run-local.sh $* exited with status $? on SIGTERM"
  run_pid=''
  ! compgen -G "$tmp/cppapi-run.*" >/dev/null || fail "run-local.sh left its temp dir in $tmp"
  echo "run-local space test: $scheme under \"$tmp\" serves and stops"
}
check
check --tls
