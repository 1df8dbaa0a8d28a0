// SPDX-License-Identifier: MIT
// The two files a client gets from cppapi itself, generated from the call table:
// <prefix>openapi.json (the OpenAPI 3.1 document) and <prefix>calls.js (the page's
// typed proxies). Neither name can be a call (call names have no `.`). Each is built
// once, sent with a strong ETag over its bytes, and If-None-Match answers 304.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cppapi/reply.hpp"
#include "cppapi/request.hpp"

#include "core/settings.hpp"
#include "dispatch/registry.hpp"

namespace cppapi {

class ClientFiles {
 public:
  ClientFiles(const Registry& registry, const Settings& settings);

  /// The reply when the request names one of the files (404 when `openapi = false`,
  /// 405 for a POST); nullopt for anything else.
  /// `call` is the raw call text after the prefix (raw_call_text).
  std::optional<Reply> serve(const Request& request, std::string_view call) const;

  /// `"<16 hex digits>"`: FNV-1a over the bytes, the same in every process and host.
  static std::string etag(std::string_view bytes);
  /// Whether an If-None-Match value matches `etag` (`*`, a list, weak `W/` forms).
  static bool matches(std::string_view if_none_match, std::string_view etag);

  static constexpr std::string_view kOpenApi = "openapi.json";
  static constexpr std::string_view kCallsJs = "calls.js";

 private:
  struct File {
    std::string_view name;
    std::string content_type;
    std::string body;
    std::string etag;
  };
  bool enabled_;
  std::vector<File> files_;
};

}  // namespace cppapi
