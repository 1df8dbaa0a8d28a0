// SPDX-License-Identifier: MIT
#pragma once
#include <string_view>

namespace cppapi {

/// Why a worker stopped accepting on its own. The responder decides it, the worker
/// passes it to the master as a signal value, the master logs it.
enum class RetireReason { kMaxRequests = 1, kRequestTimeout = 2 };

/// "served max_requests", "a handler timed out" (for the log).
constexpr std::string_view describe(RetireReason reason) {
  switch (reason) {
    case RetireReason::kMaxRequests:
      return "served max_requests";
    case RetireReason::kRequestTimeout:
      return "a handler timed out";
  }
  return "retiring";
}

}  // namespace cppapi
