// SPDX-License-Identifier: MIT
#pragma once
#include <stdexcept>
#include <string>

namespace cppapi {

/// Thrown by a handler (or the framework) to answer with a chosen status and message:
/// `throw cppapi::HttpError{404, "no such note"};` The message reaches the client.
class HttpError : public std::runtime_error {
 public:
  HttpError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const noexcept { return status_; }

 private:
  int status_;
};

}  // namespace cppapi
