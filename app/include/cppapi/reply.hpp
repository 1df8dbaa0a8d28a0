// SPDX-License-Identifier: MIT
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace cppapi {

/// A complete answer. Handlers may return one when a plain value is not enough;
/// the framework owns Status, Content-Type and Content-Length.
struct Reply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  static Reply text(std::string body, int status = 200) {
    return Reply{status, "text/plain; charset=utf-8", {}, std::move(body)};
  }
  /// `serialized` must already be JSON text.
  static Reply json(std::string serialized, int status = 200) {
    return Reply{status, "application/json", {}, std::move(serialized)};
  }
  static Reply bytes(std::string body, std::string content_type = "application/octet-stream") {
    return Reply{200, std::move(content_type), {}, std::move(body)};
  }
  /// Adds a response header; a name or value with CR, LF or NUL makes the reply a 500.
  Reply& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

}  // namespace cppapi
