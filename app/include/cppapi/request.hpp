// SPDX-License-Identifier: MIT
#pragma once
#include <string>
#include <string_view>

#include "cppapi/args.hpp"

namespace cppapi {
namespace detail {
struct RequestAccess;  // how the framework builds a Request and names its call; not for call files
}

/// What a handler may know about the HTTP request behind a call. Declare it as the
/// first parameter (`CALL(const cppapi::Request& req, long id)`) to receive it.
/// Views stay valid while the handler runs.
class Request {
 public:
  /// Any CGI/FastCGI parameter (REQUEST_METHOD, REMOTE_ADDR, ...); empty when absent.
  std::string_view param(std::string_view name) const;
  /// An HTTP request header by its usual name ("User-Agent"); empty when absent.
  std::string_view header(std::string_view name) const;

  std::string_view method() const { return param("REQUEST_METHOD"); }
  std::string_view content_type() const { return param("CONTENT_TYPE"); }
  std::string_view remote_addr() const { return param("REMOTE_ADDR"); }
  /// True when the front server terminated TLS for this request.
  bool https() const;
  /// The raw body bytes of a POST (empty otherwise).
  std::string_view body() const { return body_; }

  /// Set by the dispatcher once the call is parsed.
  std::string_view call() const { return call_; }
  const Args& args() const { return args_; }

 private:
  friend struct detail::RequestAccess;
  Request(const char* const* envp, std::string_view body) : envp_(envp), body_(body) {}

  const char* const* envp_;
  std::string_view body_;
  std::string call_;
  Args args_;
};

}  // namespace cppapi
