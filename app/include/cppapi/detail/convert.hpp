// SPDX-License-Identifier: MIT
// Strict conversion of one decoded argument to a handler's parameter type: the
// whole text must be consumed and the value must fit, else a 400 that names the
// position, the expected type and the value.
#pragma once
#include <charconv>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "cppapi/http_error.hpp"

namespace cppapi::detail {

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

template <class T>
inline constexpr bool kIsArgumentType =
    std::is_same_v<T, int> || std::is_same_v<T, long> || std::is_same_v<T, long long> || std::is_same_v<T, unsigned> ||
    std::is_same_v<T, unsigned long> || std::is_same_v<T, double> || std::is_same_v<T, bool> ||
    std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>;

template <class T>
constexpr const char* type_name() {
  if constexpr (std::is_same_v<T, bool>)
    return "boolean";
  else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T>)
    return "non-negative integer";
  else if constexpr (std::is_integral_v<T>)
    return "integer";
  else if constexpr (std::is_floating_point_v<T>)
    return "number";
  else
    return "string";
}

/// Quotes a value for an error message, shortened so a huge argument stays a short error.
std::string quote_for_message(std::string_view value);

[[noreturn]] void throw_bad_argument(std::size_t position, const char* expected, std::string_view value,
                                     const char* problem = "expected");

template <class T>
T convert_argument(std::string_view text, std::size_t position) {
  static_assert(kIsArgumentType<T>,
                "a CALL parameter must be int, long, long long, unsigned, unsigned long, double, bool, "
                "std::string, std::string_view, a trailing std::optional of one of these, "
                "const cppapi::Args& alone, or a leading const cppapi::Request&");
  if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>) {
    return T(text);
  } else if constexpr (std::is_same_v<T, bool>) {
    if (text == "true" || text == "1") return true;
    if (text == "false" || text == "0") return false;
    throw_bad_argument(position, "boolean (true, false, 1 or 0)", text);
  } else {
    T value{};
    const char* const end = text.data() + text.size();
    const auto [stop, error] = std::from_chars(text.data(), end, value);
    // Trailing junk first: "99999999999abc" is not a number at all, whatever its digits.
    if (error == std::errc::invalid_argument || stop != end || text.empty())
      throw_bad_argument(position, type_name<T>(), text);
    if (error == std::errc::result_out_of_range) throw_bad_argument(position, type_name<T>(), text, "out of range for");
    if constexpr (std::is_floating_point_v<T>) {
      if (!std::isfinite(value)) throw_bad_argument(position, "finite number", text);
    }
    return value;
  }
}

}  // namespace cppapi::detail
