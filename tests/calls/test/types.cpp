// SPDX-License-Identifier: MIT
// Test-only: every accepted parameter type, the Request first, an optional last; the
// summary below holds a quote, a backslash and a semicolon to check the escaping.
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cppapi/call.hpp"

/// Test-only: takes "every" type \ one of each;
/// and echoes them as JSON.
CALL(const cppapi::Request& request, int i, long l, long long ll, unsigned u, unsigned long ul, double d, bool b,
     std::string s, std::string_view sv, std::optional<int> oi) {
  return nlohmann::json{{"method", std::string(request.method())},
                        {"i", i},
                        {"l", l},
                        {"ll", ll},
                        {"u", u},
                        {"ul", ul},
                        {"d", d},
                        {"b", b},
                        {"s", s},
                        {"sv", std::string(sv)},
                        {"oi", oi ? nlohmann::json(*oi) : nlohmann::json()}};
}
