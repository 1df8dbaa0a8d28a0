// SPDX-License-Identifier: MIT
#pragma once
#include <functional>

#include "core/settings.hpp"
#include "dispatch/registry.hpp"
#include "process/listen_socket.hpp"

namespace cppapi {

/// The pool: pre-forks `settings.processes` workers (run_worker) that share
/// `listen_fd`, and keeps that many alive until SIGTERM/SIGINT.
/// - a worker that dies is replaced at once, its cause logged; workers that keep
///   dying right after they start are replaced after a growing delay;
/// - a worker that retires by itself (max_requests, request_timeout) is replaced as
///   soon as it says so, while it finishes its requests;
/// - SIGHUP: `reload()` gives the new settings; a new generation of workers starts,
///   then the old one is told to stop (SIGTERM) and finishes what it has in flight;
/// - SIGUSR1: reopen the log file here and in every worker;
/// - SIGTERM/SIGINT: workers finish their requests within the shutdown timeout, then
///   stragglers get SIGKILL. A second SIGTERM/SIGINT kills them at once.
/// `opened`: the socket this process opened (workers disown its file), or null when
/// the listener was inherited. take_over_signals() must have run, and
/// the process must have no other thread (fork() copies only the caller).
/// Returns the exit status: 0, or 1 if some worker had to be killed.
int run_master(const Registry& registry, const Settings& settings, int listen_fd, ListenSocket* opened,
               std::function<Settings()> reload);

}  // namespace cppapi
