// SPDX-License-Identifier: MIT
// GET /api/hello&Ana -> "Grüße, Ana! ✓" (UTF-8: more bytes than characters).
#include <optional>
#include <string>

#include "cppapi/call.hpp"

/// Greets NAME (default "Welt") in UTF-8.
CALL(std::optional<std::string> name) { return "Grüße, " + name.value_or("Welt") + "! ✓"; }
