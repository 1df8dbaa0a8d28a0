// SPDX-License-Identifier: MIT
#include "process/sd_notify.hpp"

#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>

#include <fmt/format.h>
#include <systemd/sd-daemon.h>

namespace cppapi {

bool notify_enabled() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  return socket && *socket;
}

bool notify(std::string_view state) {
  if (!notify_enabled()) return false;
  const std::string text(state);
  return ::sd_notify(0, text.c_str()) > 0;  // keep NOTIFY_SOCKET: workers are not told, we notify again later
}

bool notify_reloading() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec =
      static_cast<std::uint64_t>(now.tv_sec) * 1'000'000u + static_cast<std::uint64_t>(now.tv_nsec) / 1000u;
  return notify(fmt::format("RELOADING=1\nMONOTONIC_USEC={}", usec));
}

std::optional<std::chrono::microseconds> watchdog_interval() {
  std::uint64_t usec = 0;
  if (::sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(static_cast<std::int64_t>(usec / 2));
}

}  // namespace cppapi
