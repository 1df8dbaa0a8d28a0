// SPDX-License-Identifier: MIT
// pyAPI's first example. GET /api/serverTime -> "2026-11-27 09:15:02";
// GET /api/serverTime&now -> "now: 2026-11-27 09:15:02".
#include <ctime>
#include <string>

#include "cppapi/call.hpp"

/// The server's local time; with the argument `now`, prefixed with "now: ".
CALL(const cppapi::Args& args) {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &local);
  const bool with_label = !args.empty() && args[0] == "now";
  return (with_label ? std::string("now: ") : std::string()) + text;
}
