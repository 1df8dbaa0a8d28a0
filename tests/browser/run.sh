#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs the browser test against CPPAPI_BIN (default build/cppapi), over http and then https, e.g.
#   CPPAPI_BIN=build/test/cppapi tests/browser/run.sh
# Installs the pinned playwright-core from package-lock.json on first use; the
# browser is the system's /usr/bin/chromium.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ ! -d $here/node_modules/playwright-core ]]; then
  npm ci --prefix "$here" --no-audit --no-fund
fi
node --test --test-reporter=spec "$here/browser.test.mjs"
node --test --test-reporter=spec "$here/typed_calls.test.mjs"  # calls.js proxies and the docs page
# Once more over https: nginx with a certificate made for the run (run-local.sh --tls).
CPPAPI_BROWSER_TLS=1 node --test --test-reporter=spec "$here/browser.test.mjs"
