#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make dev` (deploy/dev.sh) on a copy of the tracked files, on a free loopback port: an
# edit of calls/hello.cpp's answer comes through nginx; a broken edit prints the compiler's
# message while the previous answer stays; SIGTERM to dev.sh during a rebuild stops it
# and leaves no process behind; a master that stops ends dev.sh with status 1.
# Every wait is against the clock, within 840 s in all (ctest's TIMEOUT is 900 s).
# Usage: tests/dev/dev_test.sh SOURCE_DIR
set -euo pipefail
src=$(cd "${1:?usage: $0 SOURCE_DIR}" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cppapi-dev-test.XXXXXX")
tree=$tmp/tree
dev_pid=''
limit=$((SECONDS + 840))

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
cleanup() {
  local status=$?
  if [[ -n $dev_pid ]]; then kill -TERM "$dev_pid" 2>/dev/null || true; wait "$dev_pid" 2>/dev/null || true; fi
  # A failed run must not leave a server behind for the tests after it.
  leftovers | while read -r pid _; do kill -KILL "$pid" 2>/dev/null || true; done
  if ((status == 0)); then rm -rf "$tmp"; else echo "dev test: kept $tmp" >&2; fi
}
trap cleanup EXIT

# start_dev [BUILD_DIR]
start_dev() {
  (cd "$tree" && BUILD_DIR=${1:-build/dev} TMPDIR=$tmp PORT=$port exec deploy/dev.sh) >"$tmp/dev.out" 2>&1 &
  dev_pid=$!
}
# stop_dev SECONDS: true once dev.sh has exited within SECONDS; its status in $dev_status.
stop_dev() {
  wait_for "$1" dev_gone || return 1
  dev_status=0
  wait "$dev_pid" || dev_status=$?
  dev_pid=''
}
dev_gone() { ! kill -0 "$dev_pid" 2>/dev/null; }
answer() { curl -s --max-time 5 "http://127.0.0.1:$port/api/hello" || true; }
# wait_for SECONDS COMMAND...: true once COMMAND succeeds within SECONDS (and the limit).
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  ((deadline < limit)) || deadline=$limit
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}
# The same after an edit of calls/hello.cpp, which is saved again every 5 s: dev.sh starts
# watching again only after a rebuild, so a save that came before is not seen.
resaved() {
  "$@" && return 0
  if ((SECONDS >= next_save)); then
    cp "$tree/calls/hello.cpp" "$tmp/hello.cpp" && cp "$tmp/hello.cpp" "$tree/calls/hello.cpp"
    next_save=$((SECONDS + 5))
  fi
  return 1
}
wait_after_edit() {
  local seconds=$1
  shift
  next_save=$((SECONDS + 5))
  wait_for "$seconds" resaved "$@"
}
answers() { [[ $(answer) == "$1" ]]; }
output_has() { grep -q -- "$1" "$tmp/dev.out"; }
up() { output_has 'dev: master' || { dev_gone && fail "dev.sh exited before serving"; false; }; }
# A build in progress: its cmake (one pgrep; a scan by leftovers can take seconds under load).
building() { pgrep -f -- "--build $tree/build/dev" >/dev/null; }
no_leftovers() { [[ -z $(leftovers) ]]; }

mkdir "$tree"
git -C "$src" ls-files -z | (cd "$src" && tar --null -T - -cf -) | tar -xf - -C "$tree"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

started=$SECONDS
start_dev
wait_for 840 up || fail "dev.sh did not start within $((SECONDS - started)) s"
say "built and started in $((SECONDS - started)) s (port $port)"
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

# SIGTERM while it rebuilds: dev.sh stops ninja and the compiler rather than wait for them.
sed -i '/this is not C++/d' "$tree/calls/hello.cpp"
wait_after_edit 120 building || fail "no rebuild after the broken edit was undone"
kill -TERM "$dev_pid"
# (Not timed tightly: under load the stop itself takes seconds; what failed before was the
# build left running, parentless, which the leftovers check sees.)
stop_dev 60 || fail "dev.sh still runs 60 s after SIGTERM during a rebuild"
((dev_status == 0)) || fail "dev.sh exited with status $dev_status on SIGTERM"
wait_for 2 no_leftovers || fail "processes left after dev.sh stopped: $(leftovers)"
say "SIGTERM during a rebuild: stopped, nothing left"

# A master that stops ends dev.sh with a message and status 1 (the same build, named absolute).
start_dev "$tree/build/dev"
wait_for 600 up || fail "dev.sh did not start again"
master=$(sed -n 's/^dev: master \([0-9]*\);.*/\1/p' "$tmp/dev.out")
kill -TERM "$master"
stop_dev 20 || fail "dev.sh still runs 20 s after its master stopped"
((dev_status == 1)) || fail "dev.sh exited with status $dev_status after its master stopped"
output_has 'dev: the server stopped' || fail "dev.sh did not say the server stopped"
wait_for 2 no_leftovers || fail "processes left after the master stopped: $(leftovers)"
say "a master that stops: dev.sh says so and exits 1"
