// SPDX-License-Identifier: MIT
#pragma once
#include <charconv>
#include <concepts>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "cppapi/reply.hpp"

namespace cppapi::detail {

/// Anything with a JSON `dump()` (nlohmann::json and friends) is sent as application/json.
template <class T>
concept JsonLike = requires(const T& value) {
  { value.dump() } -> std::convertible_to<std::string>;
};

template <class T>
std::string number_text(T value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

/// Turns whatever a handler returned into a Reply.
template <class T>
Reply to_reply(T&& value) {
  using V = std::remove_cvref_t<T>;
  if constexpr (std::is_same_v<V, Reply>) {
    return std::forward<T>(value);
  } else if constexpr (std::is_same_v<V, bool>) {
    return Reply::text(value ? "true" : "false");
  } else if constexpr (std::is_arithmetic_v<V>) {
    return Reply::text(number_text(value));
  } else if constexpr (std::is_convertible_v<const V&, std::string_view>) {
    return Reply::text(std::string(std::string_view(value)));
  } else if constexpr (JsonLike<V>) {
    return Reply::json(value.dump());
  } else {
    static_assert(!sizeof(V),
                  "a CALL must return a string, a number, a bool, JSON (anything with dump()) or cppapi::Reply");
  }
}

}  // namespace cppapi::detail
