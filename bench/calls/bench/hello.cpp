// SPDX-License-Identifier: MIT
// GET /api/bench/hello -> "hello\n": the reply every `bench/bench.py load` scenario sends.
#include "cppapi/call.hpp"
CALL() { return "hello\n"; }
