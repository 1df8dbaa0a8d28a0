// SPDX-License-Identifier: MIT
#pragma once
#include <sys/types.h>

#include "core/settings.hpp"
#include "dispatch/registry.hpp"

namespace cppapi {

/// One serving process: `settings.threads` threads answer on `listen_fd` while this
/// thread waits for signals. SIGTERM/SIGINT: stop accepting, finish what is in
/// flight (up to the shutdown timeout), return. SIGUSR1: reopen the log file.
/// After max_requests, or when a handler outlives request_timeout, it retires the
/// same way by itself, first telling `master` (if not 0) so that a replacement starts
/// at once. take_over_signals() must have run. Returns the exit
/// status, or leaves with _exit() when a stuck handler thread cannot be joined.
int run_worker(const Settings& settings, const Registry& registry, int listen_fd, pid_t master = 0);

/// The signal a worker queues to its master when it retires by itself; the value is
/// the RetireReason. A realtime signal, so that two workers retiring at once are
/// both heard.
int retire_notice_signal();

}  // namespace cppapi
