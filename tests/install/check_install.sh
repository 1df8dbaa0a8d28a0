#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `cmake --install` into a temp prefix (as a package would with --prefix /usr): every
# path to the cppapi binary that a file in deploy/ names must exist in that tree.
set -euo pipefail
build=$1 source=$2
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
DESTDIR="$root" cmake --install "$build" --prefix /usr >/dev/null
mapfile -t paths < <(grep -rhoE '/usr/[A-Za-z/]*/cppapi/cppapi\b|/usr/(local/)?s?bin/cppapi\b' "$source/deploy" | sort -u)
((${#paths[@]} > 0)) || { echo "no cppapi binary path found in deploy/"; exit 1; }
for path in "${paths[@]}"; do
  [[ -x "$root$path" && -f "$root$path" ]] || { echo "deploy/ names $path; the installed tree has no such program"; exit 1; }
done
for file in www/requests.js www/index.html deploy/nginx/cppapi.conf deploy/systemd/cppapi.service; do
  [[ -f "$root/usr/share/cppapi/$file" ]] || { echo "not installed: /usr/share/cppapi/$file"; exit 1; }
done
echo "install tree holds the one binary path deploy/ names: ${paths[*]}"
