#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make dev` (deploy/dev.sh) on a copy of the tracked files, on a free loopback port: an
# edit of calls/hello.cpp's answer comes through nginx; a broken edit prints the compiler's
# message while the previous answer stays; SIGTERM to dev.sh leaves no process behind.
# Usage: tests/dev/dev_test.sh SOURCE_DIR
set -euo pipefail
src=$(cd "${1:?usage: $0 SOURCE_DIR}" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cppapi-dev-test.XXXXXX")
tree=$tmp/tree
dev_pid=''

say() { echo "dev test: $*"; }
fail() {
  echo "dev test: FAIL: $*" >&2
  echo "--- dev.sh output" >&2
  cat "$tmp/dev.out" >&2 || true
  exit 1
}
# Processes started from the copy: a command line or working directory under $tmp.
leftovers() {
  local dir pid command
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    command=$(tr '\0' ' ' 2>/dev/null <"$dir/cmdline") || continue
    if [[ $(readlink "$dir/cwd" 2>/dev/null) == "$tmp"* || $command == *"$tmp"* ]]; then echo "$pid $command"; fi
  done
}
stop_dev() {
  [[ -n $dev_pid ]] || return 0
  kill -TERM "$dev_pid" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$dev_pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$dev_pid" 2>/dev/null && fail "dev.sh still runs 15 s after SIGTERM"
  wait "$dev_pid" || fail "dev.sh exited with status $? on SIGTERM"
  dev_pid=''
}
cleanup() {
  local status=$?
  if [[ -n $dev_pid ]]; then kill -TERM "$dev_pid" 2>/dev/null || true; wait "$dev_pid" 2>/dev/null || true; fi
  if ((status == 0)); then rm -rf "$tmp"; else echo "dev test: kept $tmp" >&2; fi
}
trap cleanup EXIT

answer() { curl -s --max-time 5 "http://127.0.0.1:$port/api/hello" || true; }
# wait_for SECONDS COMMAND...: true once COMMAND succeeds within SECONDS.
wait_for() {
  local seconds=$1 i
  shift
  for ((i = 1; i <= seconds * 10; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}
# The same after an edit of calls/hello.cpp, which is saved again as it is every 5 s: dev.sh
# starts watching again only after a rebuild, so a save that came before is not seen.
wait_after_edit() {
  local seconds=$1 i
  shift
  for ((i = 1; i <= seconds * 10; i++)); do
    "$@" && return 0
    if ((i % 50 == 0)); then cp "$tree/calls/hello.cpp" "$tmp/hello.cpp" && cp "$tmp/hello.cpp" "$tree/calls/hello.cpp"; fi
    sleep 0.1
  done
  return 1
}
answers() { [[ $(answer) == "$1" ]]; }
output_has() { grep -q -- "$1" "$tmp/dev.out"; }

mkdir "$tree"
git -C "$src" ls-files -z | (cd "$src" && tar --null -T - -cf -) | tar -xf - -C "$tree"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

started=$(date +%s)
(cd "$tree" && TMPDIR=$tmp PORT=$port exec deploy/dev.sh) >"$tmp/dev.out" 2>&1 &
dev_pid=$!
wait_for 900 output_has 'dev: master' || fail "dev.sh did not start within 900 s"
say "built and started in $(($(date +%s) - started)) s (port $port)"
wait_for 30 answers 'Grüße, Welt! ✓' || fail "the first answer is $(answer)"

sed -i 's/"Grüße, "/"Hallo, "/' "$tree/calls/hello.cpp"
edited=$(date +%s%N)
wait_after_edit 300 answers 'Hallo, Welt! ✓' || fail "the edit did not come through: $(answer)"
say "edit -> new answer through nginx: $((($(date +%s%N) - edited) / 1000000)) ms"
wait_for 30 output_has 'dev: rebuilt and upgraded' || fail "no upgrade line"
grep -q 'master: upgraded in place' "$tmp/dev.out" || fail "dev.sh did not print the master's upgrade line"

echo 'this is not C++' >>"$tree/calls/hello.cpp"
wait_after_edit 300 output_has 'dev: build failed' || fail "the broken edit was not reported"
grep -q 'hello.cpp.*error' "$tmp/dev.out" || fail "no compiler message naming hello.cpp"
answers 'Hallo, Welt! ✓' || fail "after the broken edit the answer is $(answer)"
say "a broken edit: the compiler's message printed, the previous answer stays"

stop_dev
sleep 0.5
left=$(leftovers)
[[ -z $left ]] || fail "processes left after dev.sh stopped: $left"
say "stopped cleanly"
