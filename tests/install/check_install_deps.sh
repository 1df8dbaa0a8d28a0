#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# deploy/install-deps.sh is complete and idempotent: on a machine where the suites run,
# every package it lists is installed (dpkg-query), and running it again exits 0 without
# touching apt-get, sudo or the network (both are replaced by stubs that record a call).
set -euo pipefail
source_dir=${1:?usage: check_install_deps.sh SOURCE_DIR}
script="$source_dir/deploy/install-deps.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mapfile -t packages < <("$script" --list)
((${#packages[@]} > 0)) || { echo "FAIL: install-deps.sh --list printed no package"; exit 1; }
fail=0
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    echo "FAIL: $package is listed but not installed (dpkg-query: '${status:-unknown}')"
    fail=1
  fi
done
# What the suites run is there (from a listed package or one it depends on).
for tool in /usr/sbin/nginx /usr/sbin/lighttpd /usr/sbin/apache2 /usr/bin/spawn-fcgi /usr/bin/cgi-fcgi \
            /usr/bin/systemd-socket-activate /usr/bin/openssl /usr/bin/chromium /usr/bin/clang-format; do
  [[ -x "$tool" ]] || { echo "FAIL: $tool is missing after install-deps.sh"; fail=1; }
done

# Second run: nothing missing, so no apt-get, no sudo.
mkdir "$work/bin"
for stub in apt-get sudo apt; do
  printf '#!/bin/sh\necho "%s $*" >> "%s/called"\nexit 1\n' "$stub" "$work" > "$work/bin/$stub"
  chmod +x "$work/bin/$stub"
done
if ! PATH="$work/bin:$PATH" "$script" > "$work/out" 2>&1; then
  echo "FAIL: install-deps.sh exited non-zero with everything installed:"; cat "$work/out"; fail=1
fi
if [[ -e "$work/called" ]]; then
  echo "FAIL: install-deps.sh called the package manager with nothing missing:"; cat "$work/called"; fail=1
fi
if [[ -s "$work/out" ]]; then
  echo "FAIL: install-deps.sh printed something with nothing missing:"; cat "$work/out"; fail=1
fi
((fail == 0)) && echo "install-deps.sh: ${#packages[@]} packages, all installed; a second run did nothing"
exit $fail
