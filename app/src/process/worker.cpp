// SPDX-License-Identifier: MIT
#include "process/worker.hpp"

#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>

#include <spdlog/spdlog.h>

#include "core/log.hpp"
#include "dispatch/dispatcher.hpp"
#include "fastcgi/responder.hpp"
#include "process/signals.hpp"

namespace cppapi {
namespace {

// How often the signal wait stops to see whether the responder retired by itself.
constexpr int kRetireCheckMs = 100;

void tell_master(pid_t master, RetireReason reason) {
  if (master <= 0 || ::getppid() != master) return;  // spawned, or the master is gone
  sigval value{};
  value.sival_int = static_cast<int>(reason);
  ::sigqueue(master, retire_notice_signal(), value);
}

[[noreturn]] void leave_now(int status) {
  spdlog::default_logger()->flush();  // not spdlog::shutdown(): a stuck handler may still log
  ::_exit(status);                    // stuck threads cannot be joined; leave without running destructors
}

}  // namespace

int retire_notice_signal() { return SIGRTMIN; }

int run_worker(const Settings& settings, const Registry& registry, int listen_fd, pid_t master) {
  // glibc gives each thread its own malloc arena; a request allocates a few small
  // blocks, so two arenas serve T threads without contention and save their pages.
  ::mallopt(M_ARENA_MAX, 2);
  const Dispatcher dispatcher(registry, settings);
  FcgiResponder responder(dispatcher, ResponderOptions::from(settings), listen_fd, [master](RetireReason reason) {
    spdlog::info("retiring: {}; finishing requests in flight", describe(reason));
    tell_master(master, reason);
  });
  while (!responder.stopping()) {
    const int signal_number = wait_for_signal(kRetireCheckMs);
    if (signal_number == SIGTERM || signal_number == SIGINT) {
      spdlog::info("stopping: finishing requests in flight");
      break;
    }
    if (signal_number == SIGUSR1) {
      request_log_reopen();
      spdlog::info("log file reopened");
    }
    if (signal_number == SIGHUP && master == 0) spdlog::info("SIGHUP ignored: reloading needs --processes");
  }
  responder.request_stop();
  if (!responder.wait(std::chrono::milliseconds(settings.shutdown_timeout_ms))) {
    spdlog::warn("requests still running after {} ms; exiting anyway", settings.shutdown_timeout_ms);
    leave_now(1);
  }
  if (const int stuck = responder.abandoned_threads(); stuck > 0) {
    spdlog::info("stopped after {} requests, leaving {} timed-out handler(s) behind", responder.served(), stuck);
    leave_now(0);
  }
  spdlog::info("stopped after {} requests", responder.served());
  return 0;
}

}  // namespace cppapi
