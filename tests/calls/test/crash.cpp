// SPDX-License-Identifier: MIT
// Test-only: kills the worker process, as a real handler bug would.
#include <cstdlib>

#include "cppapi/call.hpp"

CALL()->std::string { std::abort(); }
