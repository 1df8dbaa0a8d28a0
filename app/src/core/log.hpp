// SPDX-License-Identifier: MIT
#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace cppapi {

/// Who should own a log file that root opens: the workers' user, so that they can
/// reopen it after a rotation. -1: leave the owner as it is.
struct LogFileOwner {
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
};

/// Sends the framework's log and the access log to `path` (stderr when empty). The file
/// is opened in append mode (created 0640), close-on-exec, and, when this process is
/// root, given to `owner`. Throws std::runtime_error if it cannot be opened. A forked
/// child keeps logging through the same file; SIGUSR1 makes it reopen by path.
void setup_logging(const std::string& path, bool access_log, LogFileOwner owner = {});

/// Asks the log file to be reopened before the next line (after logrotate; SIGUSR1).
/// Safe to call from any thread, cheap, no allocation.
void request_log_reopen();

/// One access-log line: method, call, status, bytes sent, microseconds spent.
void log_access(std::string_view method, std::string_view call, int status, std::size_t bytes,
                std::chrono::microseconds elapsed);

}  // namespace cppapi
