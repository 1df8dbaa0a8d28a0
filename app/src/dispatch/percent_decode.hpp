// SPDX-License-Identifier: MIT
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace cppapi {

/// Decodes %XX escapes. `+` stays a plus sign (this is a path, not a form).
/// Returns nullopt for a `%` not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view text);

}  // namespace cppapi
