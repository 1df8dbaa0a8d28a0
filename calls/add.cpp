// SPDX-License-Identifier: MIT
// GET /api/add&2&3 -> 5
#include "cppapi/call.hpp"

/// Adds two integers; a sum out of range is a 400.
CALL(long a, long b) {
  if ((b > 0 && a > __LONG_MAX__ - b) || (b < 0 && a < -__LONG_MAX__ - 1 - b))
    throw cppapi::HttpError{400, "sum out of range"};
  return a + b;
}
