#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make dev`: the demo of `make run`, with a master, rebuilt on every save in calls/, app/
# or www/ and upgraded in place (SIGUSR2, docs/upgrade.md): the page keeps its connection
# and the next request gets the new code. A compile error prints the compiler's message
# and the old code keeps serving.
# Usage: deploy/dev.sh   (BUILD_DIR: build/dev, PORT: 8080, CPPAPI_PROCESSES: 1)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build/dev}
port=${PORT:-8080}
command -v inotifywait >/dev/null || {
  echo "dev: inotifywait is missing: deploy/install-deps.sh installs inotify-tools" >&2
  exit 1
}
# A Debug build (-O0): it compiles faster, and only a developer runs it.
[[ -f $build/build.ninja ]] || cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" --target cppapi
log=$PWD/$build/dev-cppapi.log
: >"$log"
CPPAPI_PROCESSES=${CPPAPI_PROCESSES:-1} CPPAPI_LOG_FILE=$log deploy/run-local.sh --port "$port" --cppapi "$PWD/$build/cppapi" &
run=$! watcher=''
trap 'kill $watcher "$run" 2>/dev/null; wait "$run" 2>/dev/null || true' EXIT
trap 'exit 0' INT TERM
# In the background, so that SIGTERM to this script stops it at once (bash runs a trap
# only once a foreground child has ended).
next_change() {
  inotifywait -qq -r -e close_write,create,delete,move calls app www &
  watcher=$!
  wait "$watcher"
}
master=''
for _ in $(seq 200); do
  master=$(pgrep -P "$run" -x cppapi || true)
  [[ -n $master ]] && break
  sleep 0.05
done
[[ -n $master ]] || { echo "dev: cppapi did not start; its log: $log" >&2; exit 1; }
echo "dev: master $master; watching calls/ app/ www/ (log: $log)"
outcome='master: upgraded in place\|master: upgrade refused\|master: upgrade failed'
while next_change; do
  sleep 0.1 # a save is often several events
  started=$(date +%s%N)
  before=$(stat -c %Y.%i "$build/cppapi")
  if output=$(cmake --build "$build" --target cppapi 2>&1); then
    if [[ $(stat -c %Y.%i "$build/cppapi") != "$before" ]]; then
      lines=$(wc -l <"$log")
      kill -USR2 "$master"
      for _ in $(seq 300); do
        tail -n +"$((lines + 1))" "$log" | grep -q "$outcome" && break
        sleep 0.05
      done
      tail -n +"$((lines + 1))" "$log" | grep "$outcome" || true
      echo "dev: rebuilt and upgraded in $((($(date +%s%N) - started) / 1000000)) ms"
    fi
  else
    printf '%s\n' "$output" | grep -v '^\[[0-9]*/[0-9]*\]'
    echo "dev: build failed: the old code keeps serving"
  fi
done
