// SPDX-License-Identifier: MIT
#include <fmt/format.h>

#include "cppapi/detail/call_record.hpp"
#include "cppapi/detail/convert.hpp"

namespace cppapi::detail {

std::string quote_for_message(std::string_view value) {
  constexpr std::size_t kShown = 64;
  if (value.size() <= kShown) return fmt::format("\"{}\"", value);
  return fmt::format("\"{}...\" ({} bytes)", value.substr(0, kShown), value.size());
}

void throw_bad_argument(std::size_t position, const char* expected, std::string_view value, const char* problem) {
  throw HttpError(400,
                  fmt::format("argument {}: {} {}, got {}", position, problem, expected, quote_for_message(value)));
}

void throw_wrong_count(std::size_t required, std::size_t total, std::size_t given, const char* first_missing) {
  if (given < required)
    throw HttpError(400, fmt::format("argument {}: missing, expected {}", given + 1, first_missing));
  throw HttpError(
      400, fmt::format("too many arguments: expected {}{}, got {}", required == total ? "" : "at most ", total, given));
}

}  // namespace cppapi::detail
