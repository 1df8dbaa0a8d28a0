// SPDX-License-Identifier: MIT
#pragma once
#include <signal.h>

namespace cppapi {

/// SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGCHLD: handled by one thread with sigwait().
sigset_t control_signals();

/// Blocks the control signals in this thread (threads started later inherit it) and
/// gives SIGPIPE, SIGTERM and SIGUSR1 our own dispositions. Must run before
/// FCGX_Init(), which otherwise installs handlers that turn SIGTERM and SIGUSR1 into
/// its "shutdown pending" flag and would make a blocked read fail with EINTR.
void take_over_signals();

/// The next control signal (blocks until one arrives or `timeout_ms` passes; 0 then).
int wait_for_signal(int timeout_ms);

}  // namespace cppapi
