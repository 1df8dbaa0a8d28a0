// SPDX-License-Identifier: MIT
// Test-only: N bytes (byte i is i % 251) as application/octet-stream.
#include <string>

#include "cppapi/call.hpp"

CALL(long n) {
  if (n < 0 || n > (64L << 20)) throw cppapi::HttpError{400, "n must be between 0 and 67108864"};
  std::string body(static_cast<std::size_t>(n), '\0');
  for (long i = 0; i < n; ++i) body[static_cast<std::size_t>(i)] = static_cast<char>(i % 251);
  return cppapi::Reply::bytes(std::move(body));
}
