// SPDX-License-Identifier: MIT
// The worker's side of the status: counts each request in the worker's scoreboard
// slot (RequestObserver hook of the responder) and, with slowlog_threshold, logs a
// request still running past it with the stack of its thread at that moment.
//
// The stack is taken safely: a watchdog thread sends a realtime signal to the handler's
// thread (pthread_sigqueue); the signal handler only calls backtrace() into a buffer
// allocated beforehand (backtrace() was called once at start, so it does not load
// libgcc_s inside the handler) and raises a flag. Symbols are looked up (dladdr,
// demangling) by the watchdog, outside the handler: a handler inside malloc() or
// holding any lock cannot deadlock it.
#pragma once
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/request_observer.hpp"
#include "dispatch/registry.hpp"
#include "process/scoreboard.hpp"

namespace cppapi {

class WorkerObserver final : public RequestObserver {
 public:
  WorkerObserver(Scoreboard& board, int slot, const Registry& registry, std::string prefix,
                 std::chrono::milliseconds slowlog_threshold);
  ~WorkerObserver() override;

  RequestToken begin(std::string_view request_uri) noexcept override;
  void end(RequestToken token, int status, std::chrono::nanoseconds elapsed) noexcept override;

  /// The index of the call a REQUEST_URI names (registry order), or the unknown index.
  std::size_t call_index(std::string_view request_uri) const;

  /// The realtime signal that asks a thread for its stack.
  static int stack_signal();

 private:
  struct Entry;
  void watch();
  void report(Entry& entry, std::chrono::steady_clock::time_point now);

  Scoreboard& board_;
  const int slot_;
  const Registry& registry_;
  const std::string prefix_;
  const std::chrono::milliseconds threshold_;
  std::unique_ptr<Entry[]> entries_;
  std::atomic<int> claimed_{0};
  std::atomic<int> registered_{0};
  std::atomic<bool> stop_{false};
  std::thread watchdog_;
};

/// Symbolized frames ("#0 function+0x1f in /path/binary") of raw return addresses.
std::vector<std::string> symbolize(void* const* frames, int count);

}  // namespace cppapi
