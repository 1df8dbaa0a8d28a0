// SPDX-License-Identifier: MIT
#pragma once
#include <cctype>
#include <string_view>

namespace cppapi {

/// `text` without leading and trailing white space (list entries, header values, C++
/// declarations).
inline std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

}  // namespace cppapi
