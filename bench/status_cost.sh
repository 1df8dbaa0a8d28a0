#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What the status counters cost on the hot path: the same pool (2 x 4) behind one nginx
# (keep-alive to the pool), once with the scoreboard on (--status-listen) and once off,
# measured by wrk in alternating rounds on `add&1&2`. Prints requests/s per round and the
# medians. Usage: bench/status_cost.sh [path/to/cppapi]   (ROUNDS=4 DURATION=5s)
set -euo pipefail
bin=${1:-build/test/cppapi}
rounds=${ROUNDS:-4}
duration=${DURATION:-5s}
tmp=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; sleep 0.5; rm -rf "$tmp"; }
trap cleanup EXIT
user=(); [[ $EUID -eq 0 ]] && user=(--user root)
"$bin" serve "${user[@]}" --listen "unix:$tmp/on.sock" --status-listen "unix:$tmp/status.sock" --processes 2 --threads 4 \
  --access-log false 2>"$tmp/on.log" & pids+=($!)
"$bin" serve "${user[@]}" --listen "unix:$tmp/off.sock" --processes 2 --threads 4 --access-log false 2>"$tmp/off.log" &
pids+=($!)
cat > "$tmp/nginx.conf" <<CONF
$([[ $EUID -eq 0 ]] && echo "user root root;")
daemon off; worker_processes 1; pid $tmp/nginx.pid; error_log $tmp/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  upstream on { server unix:$tmp/on.sock; keepalive 32; }
  upstream off { server unix:$tmp/off.sock; keepalive 32; }
  server { listen 127.0.0.1:18091; location /api/ { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass on; } }
  server { listen 127.0.0.1:18092; location /api/ { include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass off; } }
}
CONF
sleep 1
/usr/sbin/nginx -p "$tmp/" -c "$tmp/nginx.conf" & pids+=($!)
sleep 1
run() { wrk -t2 -c16 -d"$duration" "http://127.0.0.1:$1/api/add&1&2" | awk '/Requests\/sec/ {print $2}'; }
run 18091 >/dev/null; run 18092 >/dev/null  # warm-up
on=(); off=()
for ((i = 0; i < rounds; i++)); do
  off+=("$(run 18092)"); on+=("$(run 18091)")
  echo "round $((i + 1)): off ${off[-1]} req/s, on ${on[-1]} req/s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
m_on=$(median "${on[@]}"); m_off=$(median "${off[@]}")
echo "median: off $m_off req/s, on $m_on req/s, on/off $(awk -v a="$m_on" -v b="$m_off" 'BEGIN {printf "%.3f", a/b}')"
echo "counted: $(env -i REQUEST_METHOD=GET REQUEST_URI=/cppapi-status/status QUERY_STRING=json cgi-fcgi -bind -connect "$tmp/status.sock" | tail -1 | grep -o '"requests_total":[0-9]*')"
