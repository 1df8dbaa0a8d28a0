// SPDX-License-Identifier: MIT
#include "process/signals.hpp"

#include <pthread.h>

#include <cerrno>
#include <ctime>
#include <initializer_list>

namespace cppapi {
namespace {

void ignore(int) {}

}  // namespace

sigset_t control_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int signal_number : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGCHLD}) sigaddset(&set, signal_number);
  return set;
}

void take_over_signals() {
  struct sigaction action {};
  action.sa_handler = ignore;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int signal_number : {SIGTERM, SIGUSR1}) sigaction(signal_number, &action, nullptr);
  action.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &action, nullptr);  // a client that left must cost an EPIPE, never the process
  const sigset_t set = control_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_for_signal(int timeout_ms) {
  const sigset_t set = control_signals();
  timespec timeout{timeout_ms / 1000, static_cast<long>(timeout_ms % 1000) * 1000000L};
  const int signal_number = sigtimedwait(&set, nullptr, &timeout);
  return signal_number > 0 ? signal_number : 0;
}

}  // namespace cppapi
