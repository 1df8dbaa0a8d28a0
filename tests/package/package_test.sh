#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The .deb of `make package`, installed for real on this (CI) machine as root:
# its files are where the units and snippets say, the units pass
# `systemd-analyze verify`, postinst made the system user, the installed binary
# serves add&2&3 through nginx with the installed snippet (socket path substituted,
# nothing else), and remove + purge leave nothing behind but the user.
#   tests/package/package_test.sh build/package/cppapi_<version>_<arch>.deb
set -euo pipefail
deb=$(realpath "$1")
fail() { echo "package test: FAIL: $*" >&2; exit 1; }
((EUID == 0)) || fail "needs root (dpkg -i)"
[[ -f $deb ]] || fail "no package at $1"

work=$(mktemp -d /tmp/cppapi-package.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; done
  dpkg --purge cppapi >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# The binary links the distro's libfcgi (engine = "libfcgi"): dpkg-shlibdeps must have declared it.
depends=$(dpkg-deb -f "$deb" Depends)
[[ $depends == *libfcgi0ldbl* ]] || fail "Depends does not name libfcgi0ldbl: $depends"

# policy-rc.d: a package install must not start anything here either way.
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i"; }
dpkg-query -W -f='${Status}\n' cppapi | grep -qx 'install ok installed' || fail "not installed"

# 1. Files where the units say. Every ExecStart program exists and runs.
for unit in cppapi.service cppapi.socket cppapi-standalone.service; do
  [[ -f /lib/systemd/system/$unit ]] || fail "missing unit /lib/systemd/system/$unit"
done
while read -r program; do
  [[ -x $program ]] || fail "a unit starts $program, which the package did not install"
done < <(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' /lib/systemd/system/cppapi*.service | sort -u)
[[ -x /usr/lib/cppapi/cppapi ]] || fail "binary"
[[ -f /etc/cppapi/cppapi.toml ]] || fail "example config"
dpkg-query -W -f='${Conffiles}\n' cppapi | grep -q /etc/cppapi/cppapi.toml || fail "cppapi.toml is not a conffile"
for snippet in nginx/cppapi.conf lighttpd/cppapi-socket.conf apache/cppapi-fcgid.conf; do
  [[ -f /usr/share/cppapi/deploy/$snippet ]] || fail "missing snippet $snippet"
done
[[ -f /usr/share/cppapi/www/requests.js ]] || fail "www"
! systemctl is-active --quiet cppapi.service 2>/dev/null || fail "the install started the service"

# 2. The units as installed pass systemd's own checks.
systemd-analyze verify /lib/systemd/system/cppapi.socket /lib/systemd/system/cppapi.service \
  /lib/systemd/system/cppapi-standalone.service >"$work/verify.log" 2>&1 || { cat "$work/verify.log"; fail "systemd-analyze verify"; }

# 3. The user postinst made, and the installed config parses.
getent passwd cppapi >/dev/null || fail "postinst made no cppapi user"
CPPAPI_CONFIG=/etc/cppapi/cppapi.toml /usr/lib/cppapi/cppapi call 'add&2&3' | grep -qx 5 || fail "cppapi call with the installed config"

# 4. Serving through nginx with the installed snippet: root master, cppapi workers.
mkdir -p "$work/run" "$work/nginx" && chmod 755 "$work" "$work/run"
socket="$work/run/cppapi.sock"
/usr/lib/cppapi/cppapi serve --config /etc/cppapi/cppapi.toml --listen "unix:$socket" --user cppapi \
  --socket-group www-data --log-file "$work/cppapi.log" &
pids+=($!)
sed "s#unix:/run/cppapi/cppapi.sock#unix:$socket#" /usr/share/cppapi/deploy/nginx/cppapi.conf >"$work/nginx/cppapi.conf"
grep -q "unix:$socket" "$work/nginx/cppapi.conf" || fail "the installed snippet no longer names /run/cppapi/cppapi.sock"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/nginx/nginx.conf" <<CONF
user www-data;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 64; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$port;
    root /usr/share/cppapi/www;
    include $work/nginx/cppapi.conf;
  }
}
CONF
cp /etc/nginx/fastcgi_params "$work/nginx/"
nginx -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
answer=""
for _ in $(seq 100); do
  answer=$(curl -s "http://127.0.0.1:$port/api/add&2&3" || true)
  [[ $answer == 5 ]] && break
  sleep 0.1
done
[[ $answer == 5 ]] || { cat "$work/cppapi.log" "$work/nginx/error.log" 2>/dev/null; fail "add&2&3 through nginx answered '$answer'"; }
workers=$(pgrep -u cppapi -f /usr/lib/cppapi/cppapi | wc -l)
((workers >= 1)) || fail "no worker runs as cppapi"
kill "${pids[@]}"
wait "${pids[0]}" || fail "cppapi exited $? after SIGTERM"
pids=()

# 5. Remove and purge.
dpkg --remove cppapi >/dev/null || fail "dpkg --remove"
[[ ! -e /usr/lib/cppapi/cppapi ]] || fail "remove left the binary"
[[ -f /etc/cppapi/cppapi.toml ]] || fail "remove (not purge) dropped the conffile"
dpkg --purge cppapi >/dev/null || fail "dpkg --purge"
[[ ! -e /etc/cppapi/cppapi.toml ]] || fail "purge left /etc/cppapi/cppapi.toml"
[[ ! -e /lib/systemd/system/cppapi.service ]] || fail "purge left a unit"
echo "package test: 1 passed, 0 failed ($(basename "$deb"): installed, verified, served add&2&3 = 5, removed, purged)"
