// SPDX-License-Identifier: MIT
#pragma once
#include <signal.h>

#include <functional>

namespace cppapi {

/// SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD: waited for by the main thread with sigtimedwait().
sigset_t control_signals();

/// Blocks the control signals in this (the main) thread, gives SIGTERM, SIGINT, SIGHUP
/// and SIGUSR1 a handler that passes them on to the main thread (for threads started by
/// start_threads_with_clean_signals), resets SIGCHLD to its default (a supervisor may
/// have left it ignored: the kernel would then reap the workers unseen), and makes
/// SIGPIPE harmless (a web server that left costs an EPIPE, never the process) with a
/// handler rather than SIG_IGN. Handlers, unlike SIG_IGN, are reset by exec(), so a
/// program a call runs starts with default dispositions.
void take_over_signals();

/// Runs `start` on a short-lived thread whose signal mask is empty, so the threads it
/// starts (those that run handlers) and every child they spawn (fork, system(),
/// posix_spawn) start with no signal blocked. A control signal landing in one of them
/// is passed on to the main thread, which still blocks it and waits for it.
void start_threads_with_clean_signals(const std::function<void()>& start);

/// After this, fork() in any thread gives a child with an empty signal mask and the
/// default dispositions (pthread_atfork), even one that never calls exec(). For a
/// serving process only: the master's own forks must keep the workers' mask.
void reset_signals_in_forked_children();

/// The next control signal (blocks until one arrives or `timeout_ms` passes; 0 then).
int wait_for_signal(int timeout_ms);

}  // namespace cppapi
