// SPDX-License-Identifier: MIT
// Test-only: 200 with an empty body (Content-Length: 0).
#include "cppapi/call.hpp"

CALL() { return ""; }
