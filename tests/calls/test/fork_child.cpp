// SPDX-License-Identifier: MIT
// Test-only: forks a child that holds every descriptor of the process (the connection
// sockets too) for MS milliseconds without exec, as a handler's fork() may.
#include <time.h>
#include <unistd.h>

#include <string>

#include "cppapi/call.hpp"

CALL(int ms) {
  if (ms < 0 || ms > 10000) throw cppapi::HttpError{400, "ms must be between 0 and 10000"};
  const pid_t child = ::fork();
  if (child < 0) throw cppapi::HttpError{500, "fork failed"};
  if (child == 0) {  // async-signal-safe calls only
    const timespec wait{ms / 1000, (ms % 1000) * 1000000L};
    ::nanosleep(&wait, nullptr);
    ::_exit(0);
  }
  return "forked " + std::to_string(child);
}
