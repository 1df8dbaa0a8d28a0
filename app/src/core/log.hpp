// SPDX-License-Identifier: MIT
#pragma once
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace cppapi {

/// Sends the framework's log and the access log to `path` (stderr when empty).
/// Call after fork(), in the process that will log.
void setup_logging(const std::string& path, bool access_log);

/// Asks the log file to be reopened before the next line (after logrotate; SIGUSR1).
/// Safe to call from any thread, cheap, no allocation.
void request_log_reopen();

/// One access-log line: method, call, status, bytes sent, microseconds spent.
void log_access(std::string_view method, std::string_view call, int status, std::size_t bytes,
                std::chrono::microseconds elapsed);

}  // namespace cppapi
