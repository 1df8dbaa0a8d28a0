// SPDX-License-Identifier: MIT
// Test-only: what the handler sees of its request, as JSON.
#include <nlohmann/json.hpp>

#include "cppapi/call.hpp"

CALL(const cppapi::Request& request, const cppapi::Args& args) {
  const auto text = [](std::string_view view) { return std::string(view); };
  const nlohmann::json seen{{"method", text(request.method())},
                            {"content_type", text(request.content_type())},
                            {"body", std::string(request.body())},
                            {"https", request.https()},
                            {"remote_addr", text(request.remote_addr())},
                            {"user_agent", text(request.header("User-Agent"))},
                            {"call", text(request.call())},
                            {"args", args}};
  return cppapi::Reply::json(seen.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}
