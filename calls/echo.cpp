// SPDX-License-Identifier: MIT
// GET /api/echo&a&b%26c -> ["a","b&c"]: the arguments as the handler receives them.
#include <nlohmann/json.hpp>

#include "cppapi/call.hpp"

/// Returns its arguments as a JSON array of strings, as the handler received them.
CALL(const cppapi::Args& args) {
  nlohmann::json list = nlohmann::json::array();
  for (const std::string& arg : args) list.push_back(arg);
  return cppapi::Reply::json(list.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}
