// SPDX-License-Identifier: MIT
#include "process/worker.hpp"

#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <optional>

#include <spdlog/spdlog.h>

#include "core/log.hpp"
#include "dispatch/dispatcher.hpp"
#include "fastcgi/libfcgi_engine.hpp"
#include "fastcgi/responder.hpp"
#include "process/retire_channel.hpp"
#include "process/signals.hpp"

// Defined only by the test build (tests/calls/test/worker_start.cpp): a worker that crashes
// or is slow at start, for the upgrade tests. Elsewhere it is not linked and its address is null.
extern "C" [[gnu::weak]] void cppapi_test_worker_starting();

namespace cppapi {
namespace {

// How often the signal wait stops to see whether the responder retired by itself.
constexpr int kRetireCheckMs = 100;

[[noreturn]] void leave_now(int status) {
  spdlog::default_logger()->flush();  // not spdlog::shutdown(): a stuck handler may still log
  ::_exit(status);                    // stuck threads cannot be joined; leave without running destructors
}

/// Waits for SIGTERM/SIGINT or the responder retiring by itself; SIGUSR1 reopens the log.
template <class Responder>
void serve_until_stop(const Responder& responder, bool has_master) {
  while (!responder.stopping()) {
    const int signal_number = wait_for_signal(kRetireCheckMs);
    if (signal_number == SIGTERM || signal_number == SIGINT) {
      spdlog::info("stopping: finishing requests in flight");
      return;
    }
    if (signal_number == SIGUSR1) {
      request_log_reopen();
      spdlog::info("log file reopened");
    }
    if (signal_number == SIGHUP && !has_master) spdlog::info("SIGHUP ignored: reloading needs --processes");
    if (signal_number == SIGUSR2 && !has_master)
      spdlog::info(
          "SIGUSR2 ignored: upgrading the binary needs a master (--processes N or socket activation); "
          "restart this process (or its supervisor) instead");
  }
}

/// A stop that came while this worker started (a failed reload or upgrade stops the new
/// workers that were not ready yet): it must not accept a single connection then.
bool told_to_stop_while_starting() {
  sigset_t pending;
  sigpending(&pending);
  return sigismember(&pending, SIGTERM) || sigismember(&pending, SIGINT);
}

/// Runs one engine (FcgiResponder or LibfcgiResponder: the same interface) until a stop.
template <class Responder>
int serve_with(const Settings& settings, const Dispatcher& dispatcher, int listen_fd, const WorkerLinks& links) {
  const int notice_fd = links.retire_notice_fd;
  std::optional<Responder> responder;
  start_threads_with_clean_signals([&] {
    responder.emplace(dispatcher, ResponderOptions::from(settings), listen_fd, [notice_fd](RetireReason reason) {
      spdlog::info("retiring: {}; finishing requests in flight", describe(reason));
      send_retire_notice(notice_fd, reason);
    });
  });
  send_ready_notice(notice_fd);  // the threads run and accept on the listening socket
  serve_until_stop(*responder, notice_fd >= 0);
  responder->request_stop();
  if (links.stop_listening) links.stop_listening();
  if (!responder->wait(std::chrono::milliseconds(settings.shutdown_timeout_ms))) {
    spdlog::warn("requests still running after {} ms; exiting anyway", settings.shutdown_timeout_ms);
    leave_now(1);
  }
  if (const int stuck = responder->abandoned_threads(); stuck > 0) {
    spdlog::info("stopped after {} requests, leaving {} timed-out handler(s) behind", responder->served(), stuck);
    leave_now(0);
  }
  spdlog::info("stopped after {} requests", responder->served());
  return 0;
}

}  // namespace

int run_worker(const Settings& settings, const Registry& registry, int listen_fd, const WorkerLinks& links) {
  reset_signals_in_forked_children();
  if (cppapi_test_worker_starting) cppapi_test_worker_starting();
  // glibc gives each thread its own malloc arena; a request allocates a few small
  // blocks, so two arenas serve T threads without contention and save their pages.
  ::mallopt(M_ARENA_MAX, 2);
  const Dispatcher dispatcher(registry, settings);
  if (told_to_stop_while_starting()) {
    spdlog::info("stopped before serving: told to stop while starting");
    return 0;
  }
  if (settings.engine == Engine::kLibfcgi) return serve_with<LibfcgiResponder>(settings, dispatcher, listen_fd, links);
  return serve_with<FcgiResponder>(settings, dispatcher, listen_fd, links);
}

}  // namespace cppapi
