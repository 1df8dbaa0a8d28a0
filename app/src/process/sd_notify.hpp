// SPDX-License-Identifier: MIT
// systemd's notification protocol (Type=notify units), spoken directly (a datagram to
// NOTIFY_SOCKET, as sd_notify(3) sends it): a no-op unless systemd (or a test) set it.
#pragma once
#include <chrono>
#include <optional>
#include <string_view>

namespace cppapi {

/// True when NOTIFY_SOCKET is set (someone listens for our state).
bool notify_enabled();
/// Sends `state` ("READY=1", "STATUS=...", several lines at once allowed); false if not sent.
bool notify(std::string_view state);
/// "RELOADING=1\nMONOTONIC_USEC=<now>", as systemd's Type=notify-reload expects.
bool notify_reloading();
/// The interval at which to send WATCHDOG=1 (half of WATCHDOG_USEC), if systemd asks for it.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace cppapi
