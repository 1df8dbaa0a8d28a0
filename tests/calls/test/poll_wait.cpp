// SPDX-License-Identifier: MIT
// Test-only: waits MS milliseconds in poll(), and says whether a signal cut the wait short
// (a signal sent to the worker must reach its main thread, never a handler's blocking call).
#include <poll.h>

#include <cerrno>
#include <string>

#include "cppapi/call.hpp"

CALL(int ms) {
  const int r = ::poll(nullptr, 0, ms);
  return (r < 0 && errno == EINTR) ? std::string("interrupted") : std::string("waited");
}
