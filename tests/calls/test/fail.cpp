// SPDX-License-Identifier: MIT
// Test-only: a handler bug; the client must get a bare 500, the log the detail.
#include <stdexcept>

#include "cppapi/call.hpp"

CALL()->std::string { throw std::runtime_error("secret detail /etc/passwd"); }
