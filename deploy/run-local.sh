#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make run`: the demo page on http://127.0.0.1:PORT/, served by nginx from www/,
# with /api/ going to a cppapi on a private unix socket. Everything lives in a
# temp dir that is removed on exit; Ctrl-C or SIGTERM stops both processes.
# Usage: deploy/run-local.sh [--port PORT] [--cppapi PATH] [--tls]
# --tls: https://127.0.0.1:PORT/ instead, with a self-signed certificate made for this run
# (deploy/tls/make-self-signed.sh; browsers warn about it).
# shellcheck disable=SC2001,SC2016,SC2317  # sed escaping; perl/bash -c scripts; trap functions
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port=${PORT:-8080}
cppapi=$repo/build/cppapi
nginx=$(command -v nginx || echo /usr/sbin/nginx)
tls=0

usage() { echo "usage: $0 [--port PORT (\$PORT or 8080)] [--cppapi PATH (build/cppapi)] [--tls]"; }
die() { echo "run-local: $*" >&2; exit 1; }

while (($#)); do
  case $1 in
    --port) port=${2:?--port needs a value}; shift 2 ;;
    --cppapi) cppapi=${2:?--cppapi needs a value}; shift 2 ;;
    --tls) tls=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
[[ $port =~ ^[0-9]+$ ]] || die "bad port: $port"
[[ -x $cppapi ]] || die "no executable at $cppapi (build it first)"
[[ -x $nginx ]] || die "nginx not found (apt-get install nginx-light)"
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "port $port is already in use"; fi

# nginx.conf quotes the paths ("..."): a space is fine, a quote, backslash or $ is not.
[[ $repo${TMPDIR:-} != *[\"\\\$]* ]] || die "nginx cannot take a \", \\ or \$ in $repo or TMPDIR"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cppapi-run.XXXXXX")
sock=$tmp/cppapi.sock
cppapi_pid='' nginx_pid=''

# True while PID is our child and has not exited (a zombie still answers kill -0).
alive() { [[ $(ps -o stat= -p "$1" 2>/dev/null) == [^Z]* ]]; }

# Stops one child by PID: SIGTERM, SIGKILL after 10 s, then reaps it.
stop() {
  local i
  [[ -n $1 ]] || return 0
  kill -TERM "$1" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do alive "$1" || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  stop "$nginx_pid"; nginx_pid=''
  stop "$cppapi_pid"; cppapi_pid=''
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# fail cppapi|nginx MESSAGE: prints the message and that process's logs, exits 1.
fail() {
  local log logs=("$tmp/cppapi.log")
  [[ $1 == cppapi ]] || logs=("$tmp/nginx.out" "$tmp/error.log")
  echo "run-local: $1 $2" >&2
  for log in "${logs[@]}"; do
    if [[ -s $log ]]; then echo "--- $log" >&2; cat "$log" >&2; fi
  done
  exit 1
}

# wait_for cppapi|nginx PID COMMAND...: up to 10 s for COMMAND to succeed.
wait_for() {
  local what=$1 pid=$2 i; shift 2
  for ((i = 0; i < 100; i++)); do
    alive "$pid" || fail "$what" "exited during startup"
    if "$@" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  fail "$what" "did not come up within 10 s"
}

# As root (CI, a container) cppapi refuses to serve unless told which user to be:
# this loopback-only dev server stays root, like nginx below.
as_user=()
if ((EUID == 0)); then as_user=(--user root); fi
"$cppapi" serve --listen "unix:$sock" --threads 4 "${as_user[@]}" </dev/null >"$tmp/cppapi.log" 2>&1 &
cppapi_pid=$!
wait_for cppapi "$cppapi_pid" \
  perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Peer => $ARGV[0]) or exit 1' "$sock"

# Run as root, nginx workers would switch to `nobody`, who cannot enter the 0700
# temp dir holding the socket (nor maybe read www/). For this loopback-only dev
# server they stay root rather than opening the socket to every local user.
user_line=''
if ((EUID == 0)); then user_line='user root root;'; fi
esc() { sed 's/[\\&|]/\\&/g' <<<"$1"; }
sed -e "s|@PORT@|$port|g" -e "s|@ROOT@|$(esc "$repo/www")|g" -e "s|@TMP@|$(esc "$tmp")|g" \
  -e "s|@USER@|$user_line|g" "$repo/deploy/nginx/local.conf.in" >"$tmp/nginx.conf"
# The /api/ location is the shipped snippet itself, pointed at our socket.
sed "s|unix:/run/cppapi/cppapi.sock|\"unix:$(esc "$sock")\"|" "$repo/deploy/nginx/cppapi.conf" >"$tmp/cppapi.conf"
grep -qF "\"unix:$sock\"" "$tmp/cppapi.conf" || die "deploy/nginx/cppapi.conf does not name unix:/run/cppapi/cppapi.sock"
ln -s /etc/nginx/fastcgi_params "$tmp/fastcgi_params" # the snippet includes it relative to the config
scheme=http
if ((tls)); then
  scheme=https
  "$repo/deploy/tls/make-self-signed.sh" "$tmp/tls" localhost 127.0.0.1 >/dev/null || die "cannot make a certificate"
  tls_listen="listen 127.0.0.1:$port ssl http2; ssl_protocols TLSv1.2 TLSv1.3;"
  tls_listen+=" ssl_certificate \"$tmp/tls/fullchain.pem\"; ssl_certificate_key \"$tmp/tls/privkey.pem\";"
  sed -i "s|listen 127.0.0.1:$port;|$(esc "$tls_listen")|" "$tmp/nginx.conf"
  grep -qF "ssl_certificate \"$tmp/tls/fullchain.pem\";" "$tmp/nginx.conf" || die "no listen line for TLS in local.conf.in"
fi

"$nginx" -p "$tmp/" -c "$tmp/nginx.conf" -e "$tmp/error.log" </dev/null >"$tmp/nginx.out" 2>&1 &
nginx_pid=$!
wait_for nginx "$nginx_pid" \
  bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$port"

echo "cppAPI demo: $scheme://127.0.0.1:$port/"
echo "cppAPI logs: $tmp/ (cppapi.log, access.log, error.log); Ctrl-C stops" >&2

dead=''
wait -n -p dead "$cppapi_pid" "$nginx_pid" || true
if [[ $dead == "$cppapi_pid" ]]; then
  cppapi_pid=''
  fail cppapi exited
fi
nginx_pid=''
fail nginx exited
