#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make dev`: the demo of `make run`, with a master, rebuilt on every save in calls/, app/
# or www/ and upgraded in place (SIGUSR2, docs/upgrade.md): the page keeps its connection
# and the next request gets the new code. A compile error prints the compiler's message
# and the old code keeps serving. If the server stops (cppapi or nginx exits), so does this
# script, with a message and status 1.
# Usage: deploy/dev.sh   (BUILD_DIR: build/dev, relative or absolute; PORT: 8080;
# CPPAPI_PROCESSES: 1; CPPAPI_START_TIMEOUT: 10, which the wait for an upgrade allows for)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build/dev}
[[ $build == /* ]] || build=$PWD/$build
port=${PORT:-8080}
# An upgrade's outcome comes after the trial (--version and a trial start, 10 s each at
# most) and the new workers' start_timeout.
upgrade_wait=$((20 + ${CPPAPI_START_TIMEOUT:-10} + 5))
command -v inotifywait >/dev/null || {
  echo "dev: inotifywait is missing: deploy/install-deps.sh installs inotify-tools" >&2
  exit 1
}
builder='' run='' watcher=''
cleanup() {
  if [[ -n $builder ]]; then
    pkill -TERM -P "$builder" 2>/dev/null || true # ninja, which stops its compilers
    kill "$builder" 2>/dev/null || true
    wait "$builder" 2>/dev/null || true
  fi
  [[ -z $watcher ]] || kill "$watcher" 2>/dev/null || true
  if [[ -n $run ]]; then kill "$run" 2>/dev/null || true; wait "$run" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 0' INT TERM
die() { echo "dev: $*" >&2; exit 1; }
# build [FILE]: builds cppapi, its output into FILE or to ours; in the background, so that
# SIGTERM to this script stops it at once (bash runs a trap only once a foreground child ends).
build() {
  local status=0
  if (($#)); then
    cmake --build "$build" --target cppapi >"$1" 2>&1 &
  else
    cmake --build "$build" --target cppapi &
  fi
  builder=$!
  wait "$builder" || status=$?
  builder=''
  return "$status"
}
# Waits for a save; exits 1 if the server (deploy/run-local.sh) ends meanwhile.
next_change() {
  local ended=''
  inotifywait -qq -r -e close_write,create,delete,move calls app www &
  watcher=$!
  wait -n -p ended "$watcher" "$run" || true
  if [[ $ended == "$run" ]]; then
    run=''
    die "the server stopped (cppapi or nginx exited, see above and $log)"
  fi
  wait "$watcher"
}
# A Debug build (-O0): it compiles faster, and only a developer runs it.
[[ -f $build/build.ninja ]] || cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null
build || die "build failed"
log=$build/dev-cppapi.log
: >"$log"
CPPAPI_PROCESSES=${CPPAPI_PROCESSES:-1} CPPAPI_LOG_FILE=$log deploy/run-local.sh --port "$port" --cppapi "$build/cppapi" &
run=$!
master=''
for _ in $(seq 200); do
  master=$(pgrep -P "$run" -x cppapi || true)
  [[ -n $master ]] && break
  sleep 0.05
done
[[ -n $master ]] || die "cppapi did not start; its log: $log"
echo "dev: master $master; watching calls/ app/ www/ (log: $log)"
outcome='master: upgraded in place\|master: upgrade refused\|master: upgrade failed'
while next_change; do
  sleep 0.1 # a save is often several events
  started=$(date +%s%N)
  before=$(stat -c %Y.%i "$build/cppapi")
  if build "$build/dev-build.out"; then
    if [[ $(stat -c %Y.%i "$build/cppapi") != "$before" ]]; then
      lines=$(wc -l <"$log")
      kill -USR2 "$master" 2>/dev/null || die "the master ($master) is gone; its log: $log"
      deadline=$((SECONDS + upgrade_wait))
      until tail -n +"$((lines + 1))" "$log" | grep "$outcome" >/dev/null; do
        ((SECONDS < deadline)) || break
        sleep 0.05
      done
      tail -n +"$((lines + 1))" "$log" | grep "$outcome" ||
        echo "dev: no upgrade outcome in the log after $upgrade_wait s: $log" >&2
      echo "dev: rebuilt and upgraded in $((($(date +%s%N) - started) / 1000000)) ms"
    fi
  else
    grep -v '^\[[0-9]*/[0-9]*\]' "$build/dev-build.out" || true
    echo "dev: build failed: the old code keeps serving"
  fi
done
