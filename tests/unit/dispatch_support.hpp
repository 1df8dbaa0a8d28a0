// SPDX-License-Identifier: MIT
// What the dispatcher tests share: a request built from "NAME=value" parameters, handed
// to a Dispatcher, and a reply header read back.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "cppapi/reply.hpp"

#include "core/settings.hpp"
#include "dispatch/dispatcher.hpp"
#include "dispatch/registry.hpp"
#include "dispatch/request_access.hpp"

namespace cppapi::test {

/// Runs one request with exactly these CGI parameters ("REQUEST_METHOD=GET", ...).
inline Reply dispatch(const Registry& registry, const Settings& settings, const std::vector<std::string>& params) {
  std::vector<const char*> envp;
  for (const std::string& entry : params) envp.push_back(entry.c_str());
  envp.push_back(nullptr);
  Request request = detail::RequestAccess::make(envp.data(), "");
  return Dispatcher(registry, settings).handle(request);
}

/// The first value of reply header `name`, or "<none>".
inline std::string reply_header(const Reply& reply, std::string_view name) {
  for (const auto& [key, value] : reply.headers)
    if (key == name) return value;
  return "<none>";
}

}  // namespace cppapi::test
