// SPDX-License-Identifier: MIT
// Test-only: holds a thread for MS milliseconds (pool, timeout and queue tests).
#include <chrono>
#include <string>
#include <thread>

#include "cppapi/call.hpp"

CALL(int ms) {
  if (ms < 0 || ms > 600000) throw cppapi::HttpError{400, "ms must be between 0 and 600000"};
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return "slept " + std::to_string(ms);
}
