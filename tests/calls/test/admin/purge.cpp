// SPDX-License-Identifier: MIT
// Test-only: a call a front server's access rule denies (access_control_test.cpp's
// `location /api/test/admin/ { deny all; }`); answers "purged" to whoever reaches it.
#include "cppapi/call.hpp"

CALL(const cppapi::Args&) { return "purged"; }
