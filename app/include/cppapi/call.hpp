// SPDX-License-Identifier: MIT
// The one header a call file includes. It stays cheap to compile: no FastCGI,
// logging or JSON library behind it.
//
//   #include "cppapi/call.hpp"
//   CALL(long a, long b) { return a + b; }     // GET /api/add&2&3 -> 5
//
// The file's path under calls/ names the call. The build wraps every call file in a
// generated translation unit that records the handler in the call table.
#pragma once
#include "cppapi/args.hpp"
#include "cppapi/http_error.hpp"
#include "cppapi/reply.hpp"
#include "cppapi/request.hpp"

/// Declares this file's handler. Expands to a function head only: the body that
/// follows is ordinary C++. Parameters: optionally `const cppapi::Request&` first,
/// then either `const cppapi::Args&` or typed parameters (int, long, double, bool,
/// std::string, std::string_view, trailing std::optional<T>).
#define CPPAPI_CALL(...)                                                          \
  [[maybe_unused]] static constexpr const char* cppapi_parameters = #__VA_ARGS__; \
  static auto cppapi_handler(__VA_ARGS__)

#ifndef CPPAPI_NO_SHORT_MACROS
#define CALL(...) CPPAPI_CALL(__VA_ARGS__)
#endif
