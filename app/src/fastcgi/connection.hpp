// SPDX-License-Identifier: MIT
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "fastcgi/protocol.hpp"

namespace cppapi {

/// One non-blocking connection from the web server: bytes in, complete requests
/// out, reply bytes back. Owned by one thread at a time: the thread that claim()s it
/// serves it until release(); an event that comes meanwhile only marks it, and release()
/// then fails so the owner reads on (the responder's epoll set is edge-triggered). Only
/// the atomics may be read by others.
///
/// Memory stays bounded: input is parsed as it is read, so the buffer never holds much
/// more than one record (kInputLimit), and a buffer grown past kKeptCapacity by an
/// outsized request or reply is given back once the connection is idle.
class FastcgiConnection {
 public:
  using Clock = std::chrono::steady_clock;
  /// The most unparsed input held: two whole records of the largest size.
  static constexpr std::size_t kInputLimit = 2 * (fastcgi::kHeaderSize + fastcgi::kMaxContent + 255);
  /// Buffers larger than this are released when the connection goes idle.
  static constexpr std::size_t kKeptCapacity = 64 * 1024;

  FastcgiConnection(int fd, fastcgi::ParserLimits limits);
  ~FastcgiConnection();
  FastcgiConnection(const FastcgiConnection&) = delete;
  FastcgiConnection& operator=(const FastcgiConnection&) = delete;

  enum class Next { kRequest, kWaiting, kClosed };
  enum class Flush { kDone, kBlocked, kFailed };

  /// Sends pending output, then parses what is buffered, reading more while the socket
  /// has any. kRequest: a complete request is in `request`; kWaiting: park the
  /// connection until readable, or writable if has_output(); kClosed: the peer left,
  /// broke the protocol or is done: drop the connection.
  ///
  /// After a reply has gone out, kPark returns kWaiting without trying another read
  /// when the last read emptied the socket: the web server rarely has the next request
  /// there yet, and when it sends it, epoll reports the connection (one syscall saved per
  /// request). kReadOn reads on, as a stop needs: it must see a request already sent.
  enum class AfterReply { kPark, kReadOn };
  Next next_request(fastcgi::IncomingRequest& request, AfterReply after_reply = AfterReply::kReadOn);

  /// The reply buffer: append a reply's records, then flush().
  std::string& output() { return output_; }
  /// Writes pending output until done or the socket is full (never waits).
  Flush flush();
  /// Close once the pending output is sent (the reply to a request without KEEP_CONN).
  void close_after_output() { close_after_output_ = true; }
  bool has_output() const { return sent_ < output_.size(); }

  /// Writes all of `bytes` now, waiting up to `timeout` whenever the socket is full.
  /// Only for a thread that may block (the watchdog's 504), never under a lock.
  bool send(std::string_view bytes, std::chrono::milliseconds timeout);

  int fd() const { return fd_; }
  /// Why next_request() returned kClosed, for the log; empty for a plain close.
  const std::string& problem() const { return problem_; }
  /// Bytes the input buffer holds room for (it must stay bounded).
  std::size_t buffer_capacity() const { return input_.capacity(); }

  /// For the reaper: when the connection last made progress (a byte in or out), and
  /// what it is waiting for (each has its own timeout).
  Clock::time_point last_activity() const { return last_activity_.load(std::memory_order_relaxed); }
  bool mid_request() const { return mid_request_.load(std::memory_order_relaxed); }
  bool writing() const { return writing_.load(std::memory_order_relaxed); }
  bool served_any() const { return served_any_.load(std::memory_order_relaxed); }
  /// True when closing it now loses nothing: no request begun, no reply unsent.
  bool holds_nothing() const { return !mid_request() && !writing(); }
  /// Whether a thread holds it right now (the reaper leaves those alone).
  bool in_use() const { return state_.load(std::memory_order_acquire) != kIdle; }
  /// For an event on the connection: true when the caller now owns it and must serve it;
  /// false when another thread does (which then reads on before it lets go).
  bool claim();
  /// The owner lets go; false when an event came meanwhile: the caller still owns it and
  /// must read again. A new connection starts owned by the thread that accepted it.
  bool release();
  /// Whether it is in the responder's epoll set yet, and for EPOLLOUT too (the owner's to know).
  bool registered() const { return registered_; }
  void set_registered() { registered_ = true; }
  bool waits_for_output() const { return waits_for_output_; }
  void set_waits_for_output(bool waits) { waits_for_output_ = waits; }
  /// Closes the socket now; the object may still be looked at until it is freed.
  void close();

 private:
  enum class Parsed { kRequest, kMore, kClosed };
  Parsed parse_buffered(fastcgi::IncomingRequest& request);
  bool read_available();
  void release_idle_buffers();
  void touch() { last_activity_.store(Clock::now(), std::memory_order_relaxed); }

  int fd_;
  fastcgi::RequestParser parser_;
  std::string input_;
  std::size_t consumed_ = 0;
  std::string output_;
  std::size_t sent_ = 0;
  bool close_after_output_ = false;
  bool peer_closed_ = false;
  std::string problem_;
  std::atomic<Clock::time_point> last_activity_;
  std::atomic<bool> mid_request_{false};
  std::atomic<bool> writing_{false};
  std::atomic<bool> served_any_{false};
  bool input_drained_ = true;  // the last read found the socket empty and no event came since
  bool registered_ = false;
  bool waits_for_output_ = false;
  enum State : std::uint8_t { kIdle, kOwned, kOwnedEventCame };
  std::atomic<std::uint8_t> state_{kOwned};
};

}  // namespace cppapi
