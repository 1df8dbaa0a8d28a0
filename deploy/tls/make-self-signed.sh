#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Makes a self-signed TLS certificate, for trying the TLS configs in deploy/ and for the tests.
# Browsers warn about it; in production use a real one (e.g. certbot) at the same two paths.
#
#   deploy/tls/make-self-signed.sh DIR [NAME...]
#
# writes DIR/fullchain.pem (certificate) and DIR/privkey.pem (key, mode 0600), valid for
# 30 days for every NAME (host names or IP addresses; default: localhost 127.0.0.1 ::1).
# The configs in deploy/ read /etc/ssl/cppapi/{fullchain,privkey}.pem:
#   sudo deploy/tls/make-self-signed.sh /etc/ssl/cppapi example.com
set -euo pipefail

if (($# < 1)) || [[ $1 == -h || $1 == --help ]]; then
  echo "usage: $0 DIR [NAME...]   (writes DIR/fullchain.pem and DIR/privkey.pem)" >&2
  exit 2
fi
dir=$1
shift
(($#)) || set -- localhost 127.0.0.1 ::1

san=''
for name in "$@"; do
  if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then san+=",IP:$name"; else san+=",DNS:$name"; fi
done

mkdir -p "$dir"
umask 077
# P-256 ECDSA: small and fast; every TLS 1.2/1.3 client accepts it. CA:FALSE marks a server
# certificate (Apache warns about one that claims to be a CA); clients can still pin it as
# their only trusted certificate (curl --cacert DIR/fullchain.pem).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 30 \
  -subj "/CN=$1" -addext "subjectAltName=${san#,}" \
  -addext "basicConstraints=critical,CA:FALSE" -addext "keyUsage=critical,digitalSignature" \
  -addext "extendedKeyUsage=serverAuth" \
  -keyout "$dir/privkey.pem" -out "$dir/fullchain.pem" 2>/dev/null
chmod 0644 "$dir/fullchain.pem"
echo "$dir/fullchain.pem $dir/privkey.pem"
