// SPDX-License-Identifier: MIT
#pragma once
#include <functional>

#include "core/settings.hpp"
#include "dispatch/registry.hpp"
#include "process/listen_socket.hpp"
#include "process/serve_checks.hpp"
#include "process/upgrade.hpp"

namespace cppapi {

/// What the master starts from. `reload` gives the settings a SIGHUP switches to (they
/// pass check_serve_settings() and need processes >= 1, or the running workers stay).
struct MasterSetup {
  Settings settings;
  WorkerIdentity identity;  ///< whom the workers become; the master keeps its own user
  int listen_fd = -1;
  ListenSocket* opened = nullptr;  ///< the socket this process opened, or null when inherited
  std::function<Settings()> reload;
  UpgradeListener upgrade;  ///< what SIGUSR2 hands to the new binary (fd -1: no upgrade here)
};

/// The pool: pre-forks `settings.processes` workers (run_worker) that share
/// `listen_fd`, and keeps that many alive until SIGTERM/SIGINT.
/// - each worker drops to `identity` before it creates a thread or serves; the master
///   keeps root (when started so) for the socket, the log file and reloads, and never
///   runs a handler;
/// - a worker that dies is replaced at once, its cause logged; workers that keep
///   dying right after they start are replaced after a growing delay;
/// - a worker that retires by itself (max_requests, request_timeout) is replaced as
///   soon as it says so (RetireChannel), while it finishes its requests;
/// - SIGHUP: the new settings are checked as at start-up; a new generation of workers
///   starts, then the old one is told to stop (SIGTERM) and finishes what it has in flight;
/// - SIGUSR1: reopen the log file here, then in every worker;
/// - SIGUSR2: upgrade the binary in place (process/upgrade.hpp, docs/upgrade.md): the new
///   file is tried first, and a refusal leaves everything as it was; after exec() the new
///   image adopts the workers of the old one and stops them once its own are started;
/// - SIGTERM/SIGINT: the listening socket is closed (its file removed when this process
///   made it) at once; workers finish their requests within the shutdown timeout, then
///   stragglers get SIGKILL. A second SIGTERM/SIGINT kills them at once.
/// take_over_signals() must have run, and the process must have no other thread
/// (fork() copies only the caller). Returns the exit status: 0, or 1 if some worker
/// had to be killed.
int run_master(const Registry& registry, MasterSetup setup);

}  // namespace cppapi
