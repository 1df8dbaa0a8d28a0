// SPDX-License-Identifier: MIT
#pragma once
#include "core/settings.hpp"
#include "dispatch/registry.hpp"
#include "process/serve_checks.hpp"

namespace cppapi {

/// The end of an upgrade trial (process/upgrade.hpp), where the new binary would start
/// serving: one worker of it starts as the master would start it (as `identity`, with
/// `settings`) and must say that it serves (a ready notice) within start_timeout. It
/// listens on a private socket of its own, so it never takes a connection of the running
/// master's. Then it is stopped. Returns the trial's exit status: 0 when the worker was
/// ready, else 1 after one log line saying how it ended.
/// `production_fd` (the running master's listener, inherited): closed in the trial's worker.
int run_trial_worker(const Settings& settings, const Registry& registry, const WorkerIdentity& identity,
                     int production_fd);

}  // namespace cppapi
