// SPDX-License-Identifier: MIT
#include "process/signals.hpp"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <exception>
#include <initializer_list>
#include <mutex>
#include <thread>

namespace cppapi {
namespace {

constexpr int kForwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2};

void do_nothing(int) {}

/// A control signal that reached a thread which does not block it: hand it to the main
/// thread (its tid is the pid), which blocks it and picks it up with sigtimedwait(). In a
/// child forked without exec(), this thread is the main thread: then take the default action.
void forward_to_main_thread(int signal_number) {
  const int saved_errno = errno;
  const pid_t pid = ::getpid();
  if (::gettid() == pid) {
    ::signal(signal_number, SIG_DFL);
    ::raise(signal_number);
  } else {
    ::syscall(SYS_tgkill, pid, pid, signal_number);
  }
  errno = saved_errno;
}

void set_handler(int signal_number, void (*handler)(int)) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(signal_number, &action, nullptr);
}

void defaults_in_child() {
  for (int signal_number : kForwarded) ::signal(signal_number, SIG_DFL);
  ::signal(SIGPIPE, SIG_DFL);
  ::signal(SIGCHLD, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
}

}  // namespace

sigset_t control_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int signal_number : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD}) sigaddset(&set, signal_number);
  return set;
}

void take_over_signals() {
  const sigset_t set = control_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  for (int signal_number : kForwarded) set_handler(signal_number, forward_to_main_thread);
  set_handler(SIGPIPE, do_nothing);
  ::signal(SIGCHLD, SIG_DFL);
}

void start_threads_with_clean_signals(const std::function<void()>& start) {
  std::exception_ptr failure;
  std::thread starter([&start, &failure] {
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    try {
      start();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  starter.join();
  if (failure) std::rethrow_exception(failure);
}

void reset_signals_in_forked_children() {
  static std::once_flag registered;
  std::call_once(registered, [] { ::pthread_atfork(nullptr, nullptr, defaults_in_child); });
}

int wait_for_signal(int timeout_ms) {
  const sigset_t set = control_signals();
  timespec timeout{timeout_ms / 1000, static_cast<long>(timeout_ms % 1000) * 1000000L};
  const int signal_number = sigtimedwait(&set, nullptr, &timeout);
  return signal_number > 0 ? signal_number : 0;
}

}  // namespace cppapi
