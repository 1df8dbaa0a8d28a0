// SPDX-License-Identifier: MIT
#pragma once
#include <string_view>

#include "cppapi/reply.hpp"
#include "cppapi/request.hpp"

#include "core/settings.hpp"
#include "dispatch/client_files.hpp"
#include "dispatch/registry.hpp"

namespace cppapi {

/// From request to reply, independent of how the request arrived (FastCGI, CGI or
/// `cppapi call`): method check, CORS, grammar, lookup, the handler, and the one
/// error path. Never throws; every reply it returns can be written as it is.
class Dispatcher {
 public:
  Dispatcher(const Registry& registry, const Settings& settings)
      : registry_(registry), settings_(settings), client_files_(registry, settings) {}

  Reply handle(Request& request) const;
  /// A JSON error for a request refused before dispatch (e.g. 413 while reading the body).
  Reply refuse(const Request& request, int status, std::string_view message) const;

  const Settings& settings() const { return settings_; }

 private:
  Reply run_handler(Request& request, std::string_view request_uri) const;
  Reply preflight(const Request& request) const;
  /// True when a page of another site sent this request and its origin is not a CORS origin.
  bool from_another_site(const Request& request) const;
  void add_cors(const Request& request, Reply& reply) const;
  /// The Access-Control-Allow-Origin value for this Origin, empty when not allowed.
  std::string_view allowed_origin(std::string_view origin) const;

  const Registry& registry_;
  const Settings& settings_;
  ClientFiles client_files_;  ///< <prefix>openapi.json and <prefix>calls.js
};

}  // namespace cppapi
