#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/pool/run.sh: how the pool scales and what a worker costs. For each shape
# (processes x threads) cppapi runs behind nginx (1 worker); wrk sends a 20 ms sleeping
# call (test/sleep&20: waiting, as for a database) and `add` (pure overhead), then
# RSS/PSS of every worker is read from /proc/PID/smaps_rollup. Writes RESULTS.md next
# to this script (or to $OUT).
#
#   bench/pool/run.sh                 shapes "1x1 1x8 2x4 4x1", 5 s per run, 16 connections
#   SHAPES="2x8" DURATION=10s CONNECTIONS=64 bench/pool/run.sh
#
# Needs a build with the test calls: cmake -S . -B build/test -G Ninja -DCPPAPI_TEST_CALLS=ON
# (CPPAPI_BIN, default build/test/cppapi), nginx and wrk. Every process it starts is
# stopped by PID, also on Ctrl-C or an error.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CPPAPI_BIN=${CPPAPI_BIN:-$ROOT/build/test/cppapi}
SHAPES=${SHAPES:-1x1 1x8 2x4 4x1}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-16}
OUT=${OUT:-$HERE/RESULTS.md}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

log() { printf '%s bench/pool: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
[[ -x $CPPAPI_BIN ]] || die "no cppapi at $CPPAPI_BIN (build it with -DCPPAPI_TEST_CALLS=ON)"
"$CPPAPI_BIN" calls | grep -q '^test/sleep(' || die "$CPPAPI_BIN has no test/sleep call (-DCPPAPI_TEST_CALLS=ON)"
command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
[[ -x $NGINX ]] || die "nginx not found (apt-get install nginx-light)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cppapi-bench-pool.XXXXXX")
PIDS=()
stop() {  # SIGTERM by PID, SIGKILL after 10 s
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop "$pid"; done
  PIDS=()
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  local port
  for ((port = 20000 + RANDOM % 20000; ; port++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

wait_for() {  # wait_for DESCRIPTION COMMAND...: up to 10 s
  local i
  for ((i = 0; i < 100; i++)); do "${@:2}" && return 0; sleep 0.1; done
  die "$1 did not come up; logs in $TMP"
}

# kB of RSS or PSS ($2) in /proc/$1/smaps_rollup
memory_kb() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/smaps_rollup"; }
mib() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }
children() { ps -o pid= --ppid "$1" | tr -d ' '; }

# run_wrk PORT CALL -> "rps p50_ms p99_ms errors" from count.lua's BENCH line
run_wrk() {
  local line
  line=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --timeout 5s -s "$ROOT/bench/count.lua" \
    "http://127.0.0.1:$1/api/$2" | grep '^BENCH ') || die "wrk failed on $2"
  awk '{
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    printf "%.0f %.1f %.1f %d\n", v["rps"], v["p50_us"] / 1000, v["p99_us"] / 1000,
      v["connect"] + v["read"] + v["write"] + v["timeout"] + v["non2xx"]
  }' <<<"$line"
}

ROWS=()
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for shape in $SHAPES; do
  processes=${shape%x*} threads=${shape#*x}
  dir=$TMP/$shape
  mkdir -p "$dir/nginx"
  port=$(free_port)
  socket=$dir/cppapi.sock
  log "$shape: cppapi --processes $processes --threads $threads"
  "$CPPAPI_BIN" serve --listen "unix:$socket" --processes "$processes" --threads "$threads" --access-log false \
    $( ((EUID == 0)) && echo "--user root") \
    >"$dir/cppapi.log" 2>&1 &
  master=$!
  PIDS+=("$master")
  wait_for cppapi test -S "$socket"
  cat >"$dir/nginx/nginx.conf" <<EOF
$( ((EUID == 0)) && echo "user root root;")
daemon off;
worker_processes 1;
error_log $dir/nginx/error.log warn;
pid $dir/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/nginx/body;
  fastcgi_temp_path $dir/nginx/fastcgi;
  server {
    listen 127.0.0.1:$port;
    location /api/ { include /etc/nginx/fastcgi_params; fastcgi_pass unix:$socket; }
  }
}
EOF
  "$NGINX" -p "$dir/nginx/" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log" >"$dir/nginx.log" 2>&1 &
  nginx=$!
  PIDS+=("$nginx")
  wait_for nginx curl -fs -o /dev/null "http://127.0.0.1:$port/api/add&2&3"
  workers=$(children "$master")
  [[ $(wc -w <<<"$workers") == "$processes" ]] || die "$shape: expected $processes workers, got: $workers"

  # add first: requests wrk leaves behind in the listen queue would delay the next run
  add_run=$(run_wrk "$port" 'add&2&3')
  sleep_run=$(run_wrk "$port" 'test/sleep&20')
  read -r sleep_rps sleep_p50 sleep_p99 sleep_errors <<<"$sleep_run"
  read -r add_rps add_p50 add_p99 add_errors <<<"$add_run"
  rss=0 pss=0
  for pid in $workers; do
    rss=$((rss + $(memory_kb "$pid" Rss))) pss=$((pss + $(memory_kb "$pid" Pss)))
  done
  row="| $processes x $threads | $sleep_rps | $((processes * threads * 50)) | $sleep_p50 / $sleep_p99"
  row+=" | $add_rps | $add_p50 / $add_p99 | $((sleep_errors + add_errors))"
  row+=" | $(mib $((rss / processes))) | $(mib $((pss / processes))) | $(mib "$(memory_kb "$master" Rss)") |"
  ROWS+=("$row")
  log "$row"
  stop "$nginx"
  stop "$master"
  PIDS=()
done

{
  echo "# Pool benchmark"
  echo
  echo "\`bench/pool/run.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))."
  echo "nginx 1 worker, plain config (no keep-alive to cppapi); wrk 1 thread, $CONNECTIONS connections, $DURATION per"
  echo "run; wrk, nginx and cppapi share the machine (load average before / after: $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg))."
  echo "\`test/sleep&20\` holds a thread 20 ms"
  echo "(as a database query would): its ceiling is processes x threads x 50 req/s."
  echo "Memory is per worker after both runs (smaps_rollup; PSS shares pages among workers)."
  echo
  echo "| processes x threads | sleep 20 ms req/s | ceiling | p50 / p99 ms | add req/s | p50 / p99 ms | errors | RSS MiB/worker | PSS MiB/worker | master RSS MiB |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} >"$OUT"
log "wrote $OUT"
