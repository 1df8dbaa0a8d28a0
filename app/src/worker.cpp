// SPDX-License-Identifier: MIT
#include "worker.hpp"

#include <unistd.h>

#include <chrono>

#include <spdlog/spdlog.h>

#include "dispatcher.hpp"
#include "fcgi_responder.hpp"
#include "log.hpp"
#include "signals.hpp"

namespace cppapi {

int run_worker(const Settings& settings, const Registry& registry, int listen_fd) {
  const Dispatcher dispatcher(registry, settings);
  FcgiResponder responder(dispatcher, listen_fd, settings.threads);
  while (true) {
    const int signal_number = wait_for_signal(1000);
    if (signal_number == SIGTERM || signal_number == SIGINT) break;
    if (signal_number == SIGUSR1) {
      request_log_reopen();
      spdlog::info("log file reopened");
    }
  }
  spdlog::info("stopping: finishing requests in flight");
  responder.request_stop();
  if (!responder.wait(std::chrono::milliseconds(settings.shutdown_timeout_ms))) {
    spdlog::warn("requests still running after {} ms; exiting anyway", settings.shutdown_timeout_ms);
    spdlog::shutdown();
    ::_exit(1);  // the stuck threads cannot be joined; leave without running destructors

  }
  spdlog::info("stopped after {} requests", responder.served());
  return 0;
}

}  // namespace cppapi
