// SPDX-License-Identifier: MIT
#pragma once
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "core/retire_reason.hpp"
#include "core/settings.hpp"
#include "dispatch/dispatcher.hpp"
#include "fastcgi/call_times.hpp"
#include "fastcgi/leader_followers.hpp"
#include "fastcgi/peer_allow_list.hpp"
#include "fastcgi/protocol.hpp"
#include "fastcgi/serving_threads.hpp"

namespace cppapi {

class FastcgiConnection;

/// What the FastCGI responder needs from the settings, and nothing else.
struct ResponderOptions {
  int threads = 4;
  fastcgi::ParserLimits parser_limits;
  PeerAllowList allowed_peers;  // TCP peers that may connect (allow_from, else FCGI_WEB_SERVER_ADDRS)
  std::uint64_t max_requests = 0;
  std::chrono::milliseconds request_timeout{0};
  std::chrono::milliseconds read_timeout{30000};   // a request begun, or none yet, and no byte for this long
  std::chrono::milliseconds idle_timeout{300000};  // a kept connection between requests
  std::chrono::milliseconds write_timeout{30000};  // a reply that makes no progress for this long
  std::size_t max_connections = 1024;              // open connections per process; beyond, accepting waits
  std::string prefix = "/api/";                    // for the access log's call name

  static ResponderOptions from(const Settings& settings);
};

/// T threads answering FastCGI requests on one listening socket.
///
/// Connections are not tied to threads: every connection, idle or not, waits in one
/// edge-triggered epoll set, registered once. So a connection the web server keeps alive
/// between requests (nginx `fastcgi_keep_conn on`) costs no thread while it is idle, and
/// T threads serve any number of kept connections. (libfcgi parks a thread in read() on
/// each kept connection; with more connections than threads, requests then wait in the
/// listen queue until nginx times out.)
///
/// One thread at a time waits in epoll_wait and serves the calls it finds itself; the
/// others sleep (fastcgi/leader_followers.hpp). Before a call that was not fast the last
/// time it ran (fastcgi/call_times.hpp), and when a call has run for kLeaderPatience, a
/// sleeping thread takes over the waiting: fast calls cost no wake-up of another thread,
/// and a slow one holds up no other connection for more than that.
///
/// A reply the socket cannot take at once waits in its connection, which is parked for
/// EPOLLOUT: a slow reader holds memory for its reply, never a thread.
///
/// Accepting pauses while the process is out of file descriptors (about 250 ms at a
/// time, one log line per pause episode) and while max_connections are open (until one
/// closes); connections already open are served meanwhile.
///
/// A stop takes the listening socket out of the set at once, then serves every
/// connection already accepted until none holds a request or an unsent reply; those
/// that hold neither (idle, or silent since accepted) are closed at once.
/// It retires (stops accepting, lets requests in flight finish) after max_requests,
/// or when a handler outlives request_timeout: a watchdog thread then answers that
/// request with a 504 and abandons its thread, which can be neither stopped nor
/// joined. A responder with abandoned threads must outlive them: leave with _exit().
/// The same watchdog closes connections that stall in the middle of a request or send
/// nothing after accept (read_timeout), sit idle too long between requests
/// (idle_timeout) or stop taking their reply (write_timeout).
class FcgiResponder {
 public:
  /// The socket should be non-blocking. `on_retire` is called once, from a serving
  /// thread or the watchdog, at the moment accepting stops.
  FcgiResponder(const Dispatcher& dispatcher, ResponderOptions options, int listen_fd,
                std::function<void(RetireReason)> on_retire = {});
  ~FcgiResponder();
  FcgiResponder(const FcgiResponder&) = delete;
  FcgiResponder& operator=(const FcgiResponder&) = delete;

  /// Idle threads leave at once; busy ones after their current request. On return no
  /// thread touches the listening socket any more: the caller may close it.
  void request_stop();
  bool stopping() const { return stopping_.load(); }
  /// Waits until every thread has left (and joins it) or been abandoned; false if
  /// some were still busy when `timeout` ran out.
  bool wait(std::chrono::milliseconds timeout);
  /// Threads stuck in a handler that the watchdog answered for.
  int abandoned_threads() const;
  /// Requests answered so far, over all threads.
  std::uint64_t served() const { return served_.load(std::memory_order_relaxed); }

 private:
  class Slot;
  struct Overdue;
  enum class Outcome { kAnswered, kAbandoned };

  void serve_loop(Slot& slot);
  /// The leader's wait: claims the connections that have events into `found`; false when
  /// the threads should leave (a stop with nothing left to serve).
  bool poll(std::vector<FastcgiConnection*>& found);
  FastcgiConnection* accept_one();
  int accept_connection(sockaddr_storage& peer, socklen_t& peer_length);
  FastcgiConnection* admit(int fd, const sockaddr_storage& peer, socklen_t peer_length);
  void accept_failed(int error);
  /// Puts the listening socket back into the set, unless stopping, paused or at max_connections.
  void resume_accepting();
  void stop_accepting();
  /// Serves what the connection has; false when the thread was abandoned meanwhile.
  bool serve_connection(FastcgiConnection& connection, Slot& slot);
  Outcome answer(FastcgiConnection& connection, const fastcgi::IncomingRequest& incoming, Slot& slot);
  /// Leaves the connection to epoll; false when an event came for it meanwhile (serve on).
  bool park(FastcgiConnection& connection);
  void drop(FastcgiConnection* connection);
  /// Closes a connection taken out of connections_; it is freed by free_dropped().
  void bury(FastcgiConnection* connection);
  /// Frees the connections dropped so far. Only the leader, before it waits: then no event
  /// it has read from epoll still points at one of them.
  void free_dropped();
  void retire(RetireReason reason);
  void watch();
  void answer_if_overdue(Slot& slot, std::chrono::steady_clock::time_point now);
  std::optional<Overdue> claim_if_overdue(Slot& slot, std::chrono::steady_clock::time_point now);
  void answer_for_stuck_thread(Overdue& overdue);
  void close_stalled_connections(std::chrono::steady_clock::time_point now);
  std::chrono::milliseconds timeout_for(const FastcgiConnection& connection) const;
  /// During a stop: true once no connection holds an unanswered request.
  bool drained();

  const Dispatcher& dispatcher_;
  const ResponderOptions options_;
  int listen_fd_;
  std::function<void(RetireReason)> on_retire_;
  int epoll_fd_ = -1;
  char listen_tag_ = 0;                // its address marks the listening socket in epoll events
  std::atomic<bool> listening_{true};  // the listening socket is still ours to use
  std::shared_mutex listen_mutex_;     // accept4() shares it; stop_accepting() takes it alone

  std::mutex accept_mutex_;  // guards the listener's epoll registration and the fields below
  bool listener_armed_ = true;
  std::chrono::steady_clock::time_point accept_paused_until_{};
  std::chrono::steady_clock::time_point last_accept_warning_{};
  std::chrono::steady_clock::time_point last_cap_warning_{};
  std::atomic<std::size_t> open_connections_{0};

  std::atomic<bool> stopping_{false};
  std::atomic<bool> retired_{false};
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> served_{0};

  std::mutex connections_mutex_;  // guards connections_ and dropped_
  std::unordered_set<FastcgiConnection*> connections_;
  std::vector<FastcgiConnection*> dropped_;  // closed, to be freed

  CallTimes call_times_;
  LeaderFollowers<FastcgiConnection> leaders_;
  std::vector<std::unique_ptr<Slot>> slots_;
  ServingThreads threads_;  // last: it stops the threads before the rest goes
};

}  // namespace cppapi
