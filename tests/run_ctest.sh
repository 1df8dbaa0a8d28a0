#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# ctest, then the no-skip rule: `tests/run_ctest.sh ARGS...` runs `ctest ARGS...` with a JUnit
# report and fails (exit 1) when ctest failed, or when any test was skipped or not run, or
# when a GoogleTest run ran no test or skipped one, unless its name is in
# tests/allowed_skips.txt (empty: nothing may be skipped). A skipped test proves nothing,
# and ctest counts one as passed. Used by `make check`, `make asan` and `make tsan`.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
report=$(mktemp --tmpdir cppapi-ctest-XXXXXX.xml)
trap 'rm -f "$report"' EXIT

ctest "$@" --output-junit "$report"
status=$?
python3 "$here/check_no_skips.py" "$report" "$here/allowed_skips.txt" || status=1
exit $status
