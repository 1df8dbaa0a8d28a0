// SPDX-License-Identifier: MIT
#pragma once
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

#include "fastcgi/protocol.hpp"

namespace cppapi {

/// One non-blocking connection from the web server: bytes in, complete requests
/// out, reply bytes back. Owned by one thread at a time (the responder hands it out
/// through EPOLLONESHOT); only the atomics may be read by others.
class FastcgiConnection {
 public:
  using Clock = std::chrono::steady_clock;

  FastcgiConnection(int fd, fastcgi::ParserLimits limits);
  ~FastcgiConnection();
  FastcgiConnection(const FastcgiConnection&) = delete;
  FastcgiConnection& operator=(const FastcgiConnection&) = delete;

  enum class Next { kRequest, kWaiting, kClosed };

  /// Parses what is buffered, reading more while the socket has any. kRequest: a
  /// complete request is in `request`; kWaiting: park the connection until readable;
  /// kClosed: the peer left or broke the protocol, drop the connection.
  Next next_request(fastcgi::IncomingRequest& request);

  /// Writes all of `bytes`, waiting up to `timeout` whenever the socket is full.
  bool send(std::string_view bytes, std::chrono::milliseconds timeout);

  int fd() const { return fd_; }
  /// Why next_request() returned kClosed, for the log; empty for a plain close.
  const std::string& problem() const { return problem_; }

  /// For the reaper: when the connection last made progress, and whether it is
  /// inside a request (a stalled request has a shorter timeout than an idle link).
  Clock::time_point last_activity() const { return last_activity_.load(std::memory_order_relaxed); }
  bool mid_request() const { return mid_request_.load(std::memory_order_relaxed); }
  /// True once a request was answered and no other has begun: closing it now loses
  /// nothing (a stop waits for every other connection).
  bool between_requests() const { return served_any_.load(std::memory_order_relaxed) && !mid_request(); }
  /// Whether a thread holds it right now (the reaper leaves those alone).
  bool in_use() const { return in_use_.load(std::memory_order_relaxed); }
  void set_in_use(bool in_use) { in_use_.store(in_use, std::memory_order_relaxed); }
  /// Held by the thread that parks the connection and by the one that takes it next.
  std::mutex& handover() { return handover_; }
  /// Whether it is in the responder's epoll set yet.
  bool registered() const { return registered_; }
  void set_registered() { registered_ = true; }

 private:
  bool read_available();

  int fd_;
  fastcgi::RequestParser parser_;
  std::string input_;
  std::size_t consumed_ = 0;
  bool peer_closed_ = false;
  std::string problem_;
  std::atomic<Clock::time_point> last_activity_;
  std::atomic<bool> mid_request_{false};
  std::atomic<bool> in_use_{false};
  std::atomic<bool> served_any_{false};
  bool registered_ = false;
  std::mutex handover_;
};

}  // namespace cppapi
