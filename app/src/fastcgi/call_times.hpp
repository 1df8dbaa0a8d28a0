// SPDX-License-Identifier: MIT
#pragma once
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

namespace cppapi {

/// How long each call took the last time it ran, to guess whether the next run is fast.
/// The leader serves a call it knows to be fast itself and hands its role on before any
/// other (fastcgi/leader_followers.hpp). A guess only: calls share a slot when their names
/// hash alike, and a call that turns slow is caught by the leader's monitor instead.
class CallTimes {
 public:
  /// Calls that took at most this long last time are served by the leader itself.
  static constexpr std::chrono::microseconds kFast{200};

  bool known_fast(std::string_view call) const {
    const std::uint32_t last = slot(call).load(std::memory_order_relaxed);
    return last != 0 && last <= kFast.count();
  }
  void record(std::string_view call, std::chrono::nanoseconds took) {
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
    const auto clamped = static_cast<std::uint32_t>(std::clamp<long long>(micros, 1, UINT32_MAX));
    slot(call).store(clamped, std::memory_order_relaxed);
  }

 private:
  static constexpr std::size_t kSlots = 256;
  std::atomic<std::uint32_t>& slot(std::string_view call) const {
    return slots_[std::hash<std::string_view>{}(call) % kSlots];
  }
  mutable std::array<std::atomic<std::uint32_t>, kSlots> slots_{};  // µs; 0 = never ran
};

}  // namespace cppapi
