#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages cppAPI builds, runs and tests with; only what is
# missing, so a second run costs a dpkg query. Needs root (or sudo) for apt-get.
#
#   deploy/install-deps.sh          build, run and test
#   deploy/install-deps.sh bench    the same, plus what bench/ drives (wrk, PHP-FPM, gnuplot, perf)
# `install-deps.sh --list` prints the packages, one a line, and installs nothing.
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ clang clang-format pkg-config libfcgi-dev libfmt-dev libspdlog-dev nlohmann-json3-dev libcli11-dev
  libtomlplusplus-dev libgtest-dev libgmock-dev libbenchmark-dev libcurl4-openssl-dev libclang-rt-14-dev dpkg-dev
  # run and test: front servers, FastCGI tools, TLS, browser
  python3 nginx-light lighttpd lighttpd-mod-openssl spawn-fcgi apache2 libapache2-mod-fcgid libfcgi-bin openssl curl prometheus
  chromium
  # systemd-socket-activate (the socket-activated mode's test)
  systemd
  # inotifywait for `make dev`
  inotify-tools
)
# Node.js may come from elsewhere than Debian (then Debian's npm conflicts with it):
# only a machine without npm gets Debian's.
if ! command -v npm >/dev/null 2>&1; then packages+=(nodejs npm); fi
if [[ "${1:-}" == "--list" ]]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi
for group in "$@"; do
  case "$group" in
    bench) packages+=(wrk php-fpm gnuplot-nox python3 linux-perf) ;;
    *) echo "install-deps.sh: unknown group \"$group\" (known: bench)" >&2; exit 2 ;;
  esac
done

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done
if ((${#missing[@]} == 0)); then exit 0; fi

echo "installing: ${missing[*]}"
sudo=()
if ((EUID != 0)); then sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
# policy-rc.d keeps the packaged nginx/apache/lighttpd services from starting on port 80.
if ((EUID == 0)) && [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
