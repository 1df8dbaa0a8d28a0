// SPDX-License-Identifier: MIT
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/retire_reason.hpp"
#include "dispatch/dispatcher.hpp"
#include "fastcgi/responder.hpp"
#include "fastcgi/serving_threads.hpp"

namespace cppapi {

/// `engine = "libfcgi"`: T threads reading requests with libfcgi's FCGX_Accept_r,
/// answering with the same Dispatcher, reply writer, access log and request observer as
/// the event engine (FcgiResponder), and the same interface towards the worker.
///
/// What libfcgi decides, and so differs from the event engine (docs/engine.md):
/// - a connection holds its thread from accept to the end of its reply; every connection
///   is closed after its reply, also one nginx asked to keep (a kept one would park the
///   thread in read() until nginx reuses it);
/// - the FastCGI records are parsed by libfcgi: Debian 12's build aborts the process on
///   the CVE-2025-23016 length pattern (a master replaces the worker), and the parameter
///   block is bounded only after libfcgi has read it (max_params_bytes: dropped then);
/// - read_timeout and write_timeout are socket timeouts (SO_RCVTIMEO, SO_SNDTIMEO) on
///   every read() and write(), not on the request as a whole;
/// - max_connections and idle_timeout do not apply: at most T connections are open.
///
/// The handlers FCGX_Init installs are replaced by the process's own at once. The threads
/// accept connections themselves, one thread at a time (poll() with a short timeout, so
/// that a stop needs no signal, then accept() on the non-blocking listener), and give
/// each to FCGX_Accept_r, which reads the request from it.
class LibfcgiResponder {
 public:
  LibfcgiResponder(const Dispatcher& dispatcher, ResponderOptions options, int listen_fd,
                   std::function<void(RetireReason)> on_retire = {});
  ~LibfcgiResponder();
  LibfcgiResponder(const LibfcgiResponder&) = delete;
  LibfcgiResponder& operator=(const LibfcgiResponder&) = delete;

  /// Threads stop accepting within about 100 ms; busy ones finish their request first.
  /// The responder accepts on a duplicate of `listen_fd`, closed once no thread polls or
  /// accepts on it: the caller may close `listen_fd` on return.
  void request_stop();
  bool stopping() const { return stopping_.load(); }
  /// Waits until every thread has left or been abandoned; false if some were still busy
  /// when `timeout` ran out.
  bool wait(std::chrono::milliseconds timeout);
  int abandoned_threads() const;
  std::uint64_t served() const { return served_.load(std::memory_order_relaxed); }

 private:
  class Slot;
  enum class Outcome { kAnswered, kAbandoned };

  void serve_loop(Slot& slot);
  static constexpr int kNoMoreConnections = -2;

  /// Accepts a connection and lets libfcgi read its request; false when the thread
  /// should leave (stopping, or the listener is gone).
  bool accept_next(Slot& slot);
  /// A connected socket, -1 for none this time, or kNoMoreConnections.
  int accept_connection(Slot& slot);
  void leave_listener();
  bool admit(int fd);
  Outcome answer(Slot& slot);
  void end_connection(Slot& slot);
  void end_connection_under_stuck_handler(Slot& slot);
  void retire(RetireReason reason);
  void watch();
  void answer_if_overdue(Slot& slot, std::chrono::steady_clock::time_point now);

  const Dispatcher& dispatcher_;
  const ResponderOptions options_;
  std::function<void(RetireReason)> on_retire_;

  std::mutex accept_turn_;     // the one thread that polls and accepts (one poll: at most 100 ms)
  std::mutex listener_mutex_;  // guards the two fields below
  int listen_fd_ = -1;         // our duplicate; -1 once closed
  int listener_users_ = 0;     // threads in poll() or accept() on it

  std::atomic<bool> stopping_{false};
  std::atomic<bool> retired_{false};
  std::atomic<bool> warned_about_keep_alive_{false};
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> served_{0};

  std::vector<std::unique_ptr<Slot>> slots_;
  ServingThreads threads_;  // last: it stops the threads before the rest goes
};

}  // namespace cppapi
