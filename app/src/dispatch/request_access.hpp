// SPDX-License-Identifier: MIT
#pragma once
#include <string>
#include <string_view>

#include "cppapi/request.hpp"

namespace cppapi::detail {

/// The framework's side of cppapi::Request: call files can read a Request but
/// neither build one nor rename its call.
struct RequestAccess {
  /// `envp` is a CGI-style array of "NAME=value" strings ending with nullptr;
  /// it and `body` must outlive the Request.
  static Request make(const char* const* envp, std::string_view body) { return Request(envp, body); }
  static void set_call(Request& request, std::string name, Args args) {
    request.call_ = std::move(name);
    request.args_ = std::move(args);
  }
};

}  // namespace cppapi::detail
