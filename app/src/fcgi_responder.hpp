// SPDX-License-Identifier: MIT
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "dispatcher.hpp"

struct FCGX_Request;  // libfcgi, kept out of this header

namespace cppapi {

/// T threads answering FastCGI requests on one listening socket, each with its own
/// FCGX_Request. No accept mutex (libfcgi reads the whole request head inside
/// FCGX_Accept_r; a mutex around it serialises slow clients). Threads wait in poll()
/// on the socket and on a stop pipe, so a stop wakes every idle thread at once
/// without signals and without shutdown() on a socket that siblings may share.
class FcgiResponder {
 public:
  /// FCGX_Init() must have run. The socket should be non-blocking.
  FcgiResponder(const Dispatcher& dispatcher, int listen_fd, int threads);
  ~FcgiResponder();
  FcgiResponder(const FcgiResponder&) = delete;
  FcgiResponder& operator=(const FcgiResponder&) = delete;

  /// Idle threads leave at once; busy ones after their current request.
  void request_stop();
  /// Joins the threads; false if some were still busy when `timeout` ran out.
  bool wait(std::chrono::milliseconds timeout);
  /// Requests answered so far, over all threads.
  std::uint64_t served() const { return served_.load(std::memory_order_relaxed); }

 private:
  void serve_loop();
  void answer(FCGX_Request& request);

  const Dispatcher& dispatcher_;
  int listen_fd_;
  int stop_pipe_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::atomic<int> running_{0};
  std::atomic<std::uint64_t> served_{0};
  std::vector<std::thread> threads_;
};

}  // namespace cppapi
