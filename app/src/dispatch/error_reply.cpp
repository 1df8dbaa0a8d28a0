// SPDX-License-Identifier: MIT
#include "dispatch/error_reply.hpp"

#include <nlohmann/json.hpp>

namespace cppapi {

Reply error_reply(int status, std::string_view message, std::string_view call) {
  const nlohmann::ordered_json body = {{"error", message}, {"status", status}, {"call", call}};
  return Reply::json(body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace), status);
}

}  // namespace cppapi
