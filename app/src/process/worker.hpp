// SPDX-License-Identifier: MIT
#pragma once
#include <functional>

#include "core/settings.hpp"
#include "dispatch/registry.hpp"

namespace cppapi {

/// What ties a serving process to whoever started it.
struct WorkerLinks {
  /// The retire channel's worker end (RetireChannel::worker_end), or -1 without a master.
  int retire_notice_fd = -1;
  /// Called once, the moment the stop begins and no thread accepts any more: closes this
  /// process's listening socket (and removes a socket file it owns alone), so that new
  /// connections are refused at once instead of queueing for a process that stops.
  std::function<void()> stop_listening;
};

/// One serving process: `settings.threads` threads answer on `listen_fd` while this
/// thread waits for signals. SIGTERM/SIGINT: stop accepting, finish what is in
/// flight (up to the shutdown timeout), return. SIGUSR1: reopen the log file.
/// Once its threads accept, it tells the master (links.retire_notice_fd, a ready notice).
/// After max_requests, or when a handler outlives request_timeout, it retires the
/// same way by itself, first telling the master (links.retire_notice_fd) so that a
/// replacement starts at once. The serving threads, and the programs their handlers
/// run, start with no signal blocked. take_over_signals() must have run. Returns the
/// exit status, or leaves with _exit() when a stuck handler thread cannot be joined.
int run_worker(const Settings& settings, const Registry& registry, int listen_fd, const WorkerLinks& links = {});

}  // namespace cppapi
