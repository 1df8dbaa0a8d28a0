#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Checks the client files a cppapi binary generates (ctest runs each mode as a test):
#   tests/client/run.sh install              npm ci from package-lock.json (first use only)
#   tests/client/run.sh openapi CPPAPI_BIN   `cppapi openapi` is a valid OpenAPI 3.1 document
#                                            with a path for every call of `cppapi calls`
#   tests/client/run.sh types   CPPAPI_BIN   `cppapi types` + typed_good.ts pass tsc --strict
#   tests/client/run.sh wrong   CPPAPI_BIN   typed_wrong.ts must NOT compile: tsc fails, and
#                                            with exactly the errors listed in that file
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mode=${1:?usage: run.sh install|openapi|types|wrong CPPAPI_BIN}
install() {
  if [[ ! -d $here/node_modules/typescript || ! -d $here/node_modules/@seriousme/openapi-schema-validator ]]; then
    npm ci --prefix "$here" --no-audit --no-fund
  fi
}
install
[[ $mode == install ]] && exit 0
bin=${2:?give the cppapi binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tsc() { node "$here/node_modules/typescript/bin/tsc" --strict --noEmit --target es2020 --lib es2020,dom "$@"; }

case $mode in
  openapi)
    "$bin" openapi > "$work/openapi.json"
    mapfile -t names < <("$bin" calls | sed 's/(.*//')
    node "$here/validate_openapi.mjs" "$work/openapi.json" "${names[@]}"
    ;;
  types)
    "$bin" types > "$work/calls.d.ts"
    tsc "$work/calls.d.ts" "$here/typed_good.ts"
    echo "typed_good.ts compiles against cppapi types"
    ;;
  wrong)
    "$bin" types > "$work/calls.d.ts"
    cp "$here/typed_wrong.ts" "$work/"
    set +e
    (cd "$work" && tsc calls.d.ts typed_wrong.ts) > "$work/out.txt" 2>&1
    status=$?
    set -e
    cat "$work/out.txt"
    if [[ $status -eq 0 ]]; then
      echo "FAIL: typed_wrong.ts compiled, but every line marked 'expect' is a type error" >&2
      exit 1
    fi
    # Every `// expect TSnnnn` line must have that error, and there must be no other.
    expected=$(grep -n '// expect TS' "$here/typed_wrong.ts" | sed -E 's/^([0-9]+):.*expect (TS[0-9]+).*/\1 \2/' | sort)
    got=$(grep -oE '^typed_wrong\.ts\(([0-9]+),[0-9]+\): error TS[0-9]+' "$work/out.txt" |
      sed -E 's/^typed_wrong\.ts\(([0-9]+),[0-9]+\): error (TS[0-9]+)/\1 \2/' | sort)
    if [[ "$expected" != "$got" ]]; then
      printf 'FAIL: expected errors (line code):\n%s\ngot:\n%s\n' "$expected" "$got" >&2
      exit 1
    fi
    echo "typed_wrong.ts fails to compile (tsc exit $status) with exactly the expected errors"
    ;;
  *)
    echo "unknown mode $mode" >&2
    exit 2
    ;;
esac
