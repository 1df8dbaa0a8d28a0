// SPDX-License-Identifier: MIT
#pragma once
#include "registry.hpp"
#include "settings.hpp"

namespace cppapi {

/// One serving process: `settings.threads` threads answer on `listen_fd` while this
/// thread waits for signals. SIGTERM/SIGINT: stop accepting, finish what is in
/// flight (up to the shutdown timeout), return. SIGUSR1: reopen the log file.
/// take_over_signals() and FCGX_Init() must have run. Returns the exit status.
int run_worker(const Settings& settings, const Registry& registry, int listen_fd);

}  // namespace cppapi
