// SPDX-License-Identifier: MIT
// Test-only: answers the 8 characters after the mark. tests/integration/upgrade_test.cpp
// copies the binary and rewrites them in the copy, which makes a second build cheaply.
#include <string>

#include "cppapi/call.hpp"

// Not const: the compiler must read it at run time, not fold it into the code.
char cppapi_test_version_mark[] = "CPPAPI_TEST_MARK:AAAAAAAA";

CALL()->std::string { return std::string(cppapi_test_version_mark + 17, 8); }
