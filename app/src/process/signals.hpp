// SPDX-License-Identifier: MIT
#pragma once
#include <signal.h>

namespace cppapi {

/// SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGCHLD: handled by one thread with sigwait().
sigset_t control_signals();

/// Blocks the control signals in this thread (threads started later inherit it, so
/// a signal never interrupts a read or write in a serving thread) and ignores
/// SIGPIPE (a web server that left costs an EPIPE, never the process).
void take_over_signals();

/// The next control signal (blocks until one arrives or `timeout_ms` passes; 0 then).
int wait_for_signal(int timeout_ms);

}  // namespace cppapi
