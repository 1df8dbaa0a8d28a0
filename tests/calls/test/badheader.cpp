// SPDX-License-Identifier: MIT
// Test-only: tries to inject a header; the framework must refuse with a 500.
#include "cppapi/call.hpp"

CALL(std::string value) { return cppapi::Reply::text("x").header("X-Test", value); }
