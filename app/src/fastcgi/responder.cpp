// SPDX-License-Identifier: MIT
// The request timeout cannot stop a handler: C++ has no safe way to cancel a thread.
// So the watchdog answers in its place (504), marks the thread abandoned, and the
// responder retires; the process exits once the other requests are done, and the
// stuck thread goes with it. A per-thread slot and its mutex decide who writes: the
// handler's thread or the watchdog, never both.
#include "fastcgi/responder.hpp"

#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/log.hpp"
#include "core/request_observer.hpp"
#include "dispatch/grammar.hpp"
#include "dispatch/reply_writer.hpp"
#include "dispatch/request_access.hpp"
#include "fastcgi/connection.hpp"

namespace cppapi {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kStopCheckMs = 100;  // how often an idle leader looks at stopping_ and a paused listener
constexpr int kMaxEvents = 64;     // taken from epoll at once
// A call that has run this long hands the waiting for events to another thread.
constexpr auto kLeaderPatience = std::chrono::milliseconds(2);
// Connections are registered once, edge-triggered (EPOLLOUT only while a reply waits).
constexpr std::uint32_t kConnectionEvents = EPOLLIN | EPOLLRDHUP | EPOLLET;
// A stop waits this long for the first request of a connection accepted just before it: the
// web server writes it right after connecting, and a new connection closed unused fails it
// (nginx retries only on a kept connection).
constexpr auto kFirstRequestGrace = std::chrono::seconds(1);
constexpr auto kAcceptPause = std::chrono::milliseconds(250);      // out of descriptors: accept again after this
constexpr auto kAcceptWarningInterval = std::chrono::seconds(10);  // at most one such log line per interval
constexpr auto kWatchdogSendTimeout = std::chrono::seconds(1);     // the 504 for a stuck handler, best effort

/// Appends the reply as FastCGI records to `out`. Returns the body bytes it carries:
/// none for HEAD, 204 and 304.
std::size_t encode(std::string& out, std::uint16_t id, const Reply& reply, std::string_view method) {
  const bool with_body = sends_body(reply, method);
  fastcgi::append_reply(out, id, render_head(reply), with_body ? std::string_view(reply.body) : std::string_view());
  return with_body ? reply.body.size() : 0;
}

void log_reply(const Request& request, const Reply& reply, std::size_t bytes, Clock::time_point started,
               std::string_view prefix) {
  const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
  const std::string_view call =
      request.call().empty() ? raw_call_text(request.param("REQUEST_URI"), prefix) : request.call();
  log_access(request.method(), call, reply.status, bytes, elapsed);
}

void epoll_set(int epoll_fd, int operation, int fd, void* tag, std::uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.ptr = tag;
  if (::epoll_ctl(epoll_fd, operation, fd, &event) != 0 && operation != EPOLL_CTL_MOD)
    throw std::runtime_error(fmt::format("epoll_ctl: {}", std::strerror(errno)));
}

}  // namespace

/// One serving thread's request as the watchdog sees it. `mutex` guards the fields
/// after it; `out` is the thread's reused reply buffer.
class FcgiResponder::Slot {
 public:
  void begin(FastcgiConnection& link, const fastcgi::IncomingRequest& request, Clock::time_point start) {
    const std::lock_guard lock(mutex);
    connection = &link;
    incoming = &request;
    started = start;
    handling = true;
  }
  /// False when the watchdog has answered: the thread must not touch the request again.
  bool end() {
    const std::lock_guard lock(mutex);
    handling = false;
    return !timed_out;
  }
  bool abandoned() {
    const std::lock_guard lock(mutex);
    return timed_out;
  }

  std::mutex mutex;
  FastcgiConnection* connection = nullptr;
  const fastcgi::IncomingRequest* incoming = nullptr;
  Clock::time_point started;
  bool handling = false;
  bool timed_out = false;
  RequestToken token;                                 // the request observer's (core/request_observer.hpp)
  LeaderFollowers<FastcgiConnection>::Ticket ticket;  // whether this thread leads
};

ResponderOptions ResponderOptions::from(const Settings& settings) {
  ResponderOptions options;
  options.threads = settings.threads;
  options.parser_limits = {settings.limits.max_params_bytes, settings.limits.max_body_bytes};
  options.allowed_peers = PeerAllowList::from(settings.allow_from, std::getenv("FCGI_WEB_SERVER_ADDRS"));
  options.max_requests = static_cast<std::uint64_t>(settings.max_requests);
  options.request_timeout = std::chrono::milliseconds(settings.request_timeout_ms);
  options.read_timeout = std::chrono::milliseconds(settings.read_timeout_ms);
  options.idle_timeout = std::chrono::milliseconds(settings.idle_timeout_ms);
  options.write_timeout = std::chrono::milliseconds(settings.write_timeout_ms);
  options.max_connections = static_cast<std::size_t>(settings.max_connections);
  options.prefix = settings.prefix;
  return options;
}

FcgiResponder::FcgiResponder(const Dispatcher& dispatcher, ResponderOptions options, int listen_fd,
                             std::function<void(RetireReason)> on_retire)
    : dispatcher_(dispatcher),
      options_(std::move(options)),
      listen_fd_(listen_fd),
      on_retire_(std::move(on_retire)),
      leaders_(kLeaderPatience) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::runtime_error("epoll_create1 failed");
  epoll_set(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &listen_tag_, EPOLLIN | EPOLLONESHOT);
  for (int i = 0; i < options_.threads; ++i) slots_.push_back(std::make_unique<Slot>());
  threads_.start(
      options_.threads, [this](ServingThreads::Index i) { serve_loop(*slots_[i]); },
      [this](ServingThreads::Index i) { return slots_[i]->abandoned(); },
      ServingThreads::watchdog_tick(options_.request_timeout), [this] { watch(); });
}

FcgiResponder::~FcgiResponder() {
  request_stop();
  threads_.finish();
  // Idle kept-alive connections: nginx retries an idempotent request that finds one closed.
  for (FastcgiConnection* connection : connections_) delete connection;
  free_dropped();
  ::close(epoll_fd_);
}

void FcgiResponder::request_stop() {
  stopping_.store(true);
  stop_accepting();
}

// At once, from whichever thread stops: siblings sharing the socket keep accepting.
// Once it returns, no thread touches the listening socket again (the worker may close it).
void FcgiResponder::stop_accepting() {
  const std::unique_lock exclusive(listen_mutex_);  // waits for an accept4() in progress
  const std::lock_guard lock(accept_mutex_);
  if (listening_.exchange(false)) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
}

bool FcgiResponder::wait(std::chrono::milliseconds timeout) { return threads_.wait(timeout); }

int FcgiResponder::abandoned_threads() const { return threads_.abandoned(); }

void FcgiResponder::retire(RetireReason reason) {
  if (retired_.exchange(true)) return;
  if (on_retire_) on_retire_(reason);  // first, so that a replacement starts while we still accept
  request_stop();
}

void FcgiResponder::serve_loop(Slot& slot) {
  const auto poll_events = [this](std::vector<FastcgiConnection*>& found) { return poll(found); };
  while (FastcgiConnection* connection = leaders_.next(slot.ticket, poll_events))
    if (!serve_connection(*connection, slot)) return;  // abandoned
  threads_.leave();
}

bool FcgiResponder::poll(std::vector<FastcgiConnection*>& found) {
  free_dropped();
  std::array<epoll_event, kMaxEvents> events;
  const int ready = ::epoll_wait(epoll_fd_, events.data(), kMaxEvents, kStopCheckMs);
  if (ready < 0 && errno == EINTR) return true;
  if (ready < 0) {
    spdlog::error("epoll_wait: {}", std::strerror(errno));
    return false;
  }
  if (ready == 0) {
    if (stopping_.load(std::memory_order_relaxed) && drained()) return false;
    resume_accepting();  // after a pause for want of descriptors
    return true;
  }
  for (const epoll_event& event : std::span(events.data(), static_cast<std::size_t>(ready))) {
    if (event.data.ptr == &listen_tag_) {
      if (FastcgiConnection* connection = accept_one()) found.push_back(connection);
      continue;
    }
    auto* connection = static_cast<FastcgiConnection*>(event.data.ptr);
    if (connection->claim()) found.push_back(connection);
  }
  return true;
}

// One connection per wake-up: the kernel's listen queue stays the queue, and sibling
// processes sharing the socket get their share instead of one process hoarding
// connections it cannot serve.
FastcgiConnection* FcgiResponder::accept_one() {
  {
    const std::lock_guard lock(accept_mutex_);
    listener_armed_ = false;  // EPOLLONESHOT took it out
  }
  sockaddr_storage peer{};
  socklen_t peer_length = sizeof peer;
  const int fd = accept_connection(peer, peer_length);
  if (fd < 0) {
    accept_failed(errno);
    return nullptr;
  }
  FastcgiConnection* connection = admit(fd, peer, peer_length);
  resume_accepting();
  return connection;
}

int FcgiResponder::accept_connection(sockaddr_storage& peer, socklen_t& peer_length) {
  const std::shared_lock listening(listen_mutex_);
  if (!listening_.load()) {  // stopped since the wake-up: the socket may be closed already
    errno = EAGAIN;
    return -1;
  }
  int fd;
  do {
    peer_length = sizeof peer;
    fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &peer_length, SOCK_NONBLOCK | SOCK_CLOEXEC);
  } while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
  return fd;
}

/// Checks the peer, then counts and registers the connection; nullptr if refused.
FastcgiConnection* FcgiResponder::admit(int fd, const sockaddr_storage& peer, socklen_t peer_length) {
  const auto* peer_address = reinterpret_cast<const sockaddr*>(&peer);
  if (!options_.allowed_peers.allows(peer_address, peer_length)) {
    spdlog::warn("refused a FastCGI connection from {}: not in allow_from",
                 peer_address_text(peer_address, peer_length));
    ::close(fd);  // before reading a byte
    return nullptr;
  }
  // Owned by this thread, and in the epoll set only once it has to wait: one served at once
  // and closed (a web server that does not keep connections) costs no epoll_ctl.
  auto* connection = new FastcgiConnection(fd, options_.parser_limits);
  open_connections_.fetch_add(1);
  const std::lock_guard lock(connections_mutex_);
  connections_.insert(connection);
  return connection;
}

// A level-triggered listener put back at once after EMFILE would wake every thread
// again and again (100% CPU, a log line each time): it waits out a pause instead, as
// nginx does, while the connections already open are served.
void FcgiResponder::accept_failed(int error) {
  if (error == EAGAIN || error == EWOULDBLOCK) {  // a sibling process took it
    resume_accepting();
    return;
  }
  const std::lock_guard lock(accept_mutex_);
  if (error == EBADF || error == EINVAL || error == ENOTSOCK) {  // closed or shut down under us
    if (listening_.exchange(false)) spdlog::info("the listening socket is closed: no longer accepting");
    return;
  }
  const auto now = Clock::now();
  accept_paused_until_ = now + kAcceptPause;
  if (now - last_accept_warning_ < kAcceptWarningInterval) return;
  last_accept_warning_ = now;
  spdlog::warn("accept: {} ({} connections open); pausing accept for {} ms at a time, serving those open",
               std::strerror(error), open_connections_.load(), kAcceptPause.count());
}

void FcgiResponder::resume_accepting() {
  const std::lock_guard lock(accept_mutex_);
  if (listener_armed_ || !listening_.load() || stopping_.load() || Clock::now() < accept_paused_until_) return;
  if (open_connections_.load() >= options_.max_connections) {
    if (const auto now = Clock::now(); now - last_cap_warning_ >= kAcceptWarningInterval) {
      last_cap_warning_ = now;
      spdlog::warn("max_connections ({}) reached: not accepting until a connection closes", options_.max_connections);
    }
    return;
  }
  listener_armed_ = true;
  epoll_set(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &listen_tag_, EPOLLIN | EPOLLONESHOT);
}

// Connections that hold no request and no unsent reply are not waited for; bytes the
// kernel holds for one are (the web server sent a request just now), and so is a new
// connection's first request for a moment.
bool FcgiResponder::drained() {
  const std::lock_guard lock(connections_mutex_);
  const auto now = Clock::now();
  return std::all_of(connections_.begin(), connections_.end(), [now](const FastcgiConnection* connection) {
    int unread = 0;
    const bool first_request_due = !connection->served_any() && now - connection->last_activity() < kFirstRequestGrace;
    return !connection->in_use() && connection->holds_nothing() && !first_request_due &&
           (::ioctl(connection->fd(), FIONREAD, &unread) != 0 || unread == 0);
  });
}

bool FcgiResponder::serve_connection(FastcgiConnection& connection, Slot& slot) {
  fastcgi::IncomingRequest incoming;
  while (true) {
    const auto after_reply =
        stopping_.load() ? FastcgiConnection::AfterReply::kReadOn : FastcgiConnection::AfterReply::kPark;
    switch (connection.next_request(incoming, after_reply)) {
      case FastcgiConnection::Next::kWaiting:
        // Stopping: close a kept connection that holds no request. Parked, it would
        // bring the web server's next requests here (nginx reuses the connection it used
        // last) and the stop would never end; nginx retries an idempotent one that finds it
        // closed. A new one waits for its first request (drained()). A stop that began after
        // the reply went out without a read looks once more first: a request the web server
        // has sent already is served, not dropped.
        if (stopping_.load()) {
          if (after_reply == FastcgiConnection::AfterReply::kPark) continue;
          if (connection.holds_nothing() && connection.served_any()) {
            drop(&connection);
            return true;
          }
        }
        if (park(connection)) return true;  // for EPOLLOUT while a reply waits: a slow reader holds no thread
        break;                              // an event came while it was ours: read again
      case FastcgiConnection::Next::kClosed:
        if (!connection.problem().empty()) spdlog::warn("dropping a FastCGI connection: {}", connection.problem());
        drop(&connection);
        return true;
      case FastcgiConnection::Next::kRequest:
        if (options_.max_requests > 0 && accepted_.fetch_add(1) + 1 >= options_.max_requests)
          retire(RetireReason::kMaxRequests);
        if (answer(connection, incoming, slot) == Outcome::kAbandoned)
          return false;  // the watchdog finished the request and counted us out
        served_.fetch_add(1, std::memory_order_relaxed);
        if (!incoming.keep_connection) connection.close_after_output();
        break;  // next_request() sends the reply, then serves what is buffered or parks the connection
    }
  }
}

/// Runs the request and queues its reply in the connection (sent by next_request()).
FcgiResponder::Outcome FcgiResponder::answer(FastcgiConnection& connection, const fastcgi::IncomingRequest& incoming,
                                             Slot& slot) {
  const auto started = Clock::now();
  Request request = detail::RequestAccess::make(incoming.envp.data(), incoming.body);
  slot.token = observe_request_begin(request);  // status counters, slow log
  Reply reply;
  if (incoming.body_too_large()) {
    reply = dispatcher_.refuse(
        request, 413, fmt::format("request body too large: limit {} bytes", options_.parser_limits.max_body_bytes));
  } else {
    // By name: `add&2&3` and `add&5&8` are one call (arguments would make each new one unknown).
    const std::string_view call = raw_call_name(request.param("REQUEST_URI"), options_.prefix);
    if (!call_times_.known_fast(call)) leaders_.hand_off(slot.ticket);  // it may be slow: another thread waits
    slot.begin(connection, incoming, started);
    try {
      reply = dispatcher_.handle(request);
    } catch (...) {  // handle() catches handler errors; this is bad_alloc and the like
      if (!slot.end()) return Outcome::kAbandoned;
      reply = dispatcher_.refuse(request, 500, "internal error");
    }
    if (!slot.end()) return Outcome::kAbandoned;
    const auto took = Clock::now() - started;
    call_times_.record(call, took);
    leaders_.note_call_time(took);
  }
  const std::size_t bytes = encode(connection.output(), incoming.id, reply, request.method());
  observe_request_end(slot.token, reply.status, Clock::now() - started);  // counted before the client can see it
  log_reply(request, reply, bytes, started, options_.prefix);
  return Outcome::kAnswered;
}

// Registered the first time it waits; after that the registration changes only while a
// reply waits for a slow reader (EPOLLOUT left on would report every reply the web server
// reads). Either epoll_ctl reports the connection at once if it is ready already.
bool FcgiResponder::park(FastcgiConnection& connection) {
  const bool wants_output = connection.has_output();
  if (!connection.registered() || wants_output != connection.waits_for_output()) {
    epoll_event event{};
    event.events = kConnectionEvents | (wants_output ? EPOLLOUT : 0U);
    event.data.ptr = &connection;
    const int operation = connection.registered() ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (::epoll_ctl(epoll_fd_, operation, connection.fd(), &event) != 0) {
      spdlog::warn("epoll_ctl on a connection: {}", std::strerror(errno));
      drop(&connection);
      return true;
    }
    connection.set_registered();
    connection.set_waits_for_output(wants_output);
  }
  return connection.release();  // from here on another thread may take it
}

void FcgiResponder::drop(FastcgiConnection* connection) {
  {
    const std::lock_guard lock(connections_mutex_);
    connections_.erase(connection);
  }
  bury(connection);
  open_connections_.fetch_sub(1);
  resume_accepting();  // below max_connections again
}

// Out of the epoll set first: close() alone does not take it out while another process
// holds the socket too (a handler's child between fork() and exec()), and an event then
// would point at freed memory. An event the leader read before may still point at the
// object: it is freed once no such event can be in hand.
void FcgiResponder::bury(FastcgiConnection* connection) {
  if (connection->registered()) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, connection->fd(), nullptr);
  connection->close();
  const std::lock_guard lock(connections_mutex_);
  dropped_.push_back(connection);
}

void FcgiResponder::free_dropped() {
  std::vector<FastcgiConnection*> dropped;
  {
    const std::lock_guard lock(connections_mutex_);
    dropped.swap(dropped_);
  }
  for (FastcgiConnection* connection : dropped) delete connection;
}

/// One watchdog tick: overdue handlers, then stalled connections.
void FcgiResponder::watch() {
  const auto now = Clock::now();
  if (options_.request_timeout.count() > 0)
    for (auto& slot : slots_) answer_if_overdue(*slot, now);
  close_stalled_connections(now);
}

/// What the watchdog needs to answer for a stuck handler, copied under the slot's lock:
/// once the lock is released the stuck thread may return and free its request.
struct FcgiResponder::Overdue {
  FastcgiConnection* connection = nullptr;
  std::string out;  // the 504 as records
  std::string method;
  std::string call;
  Reply reply;
  std::size_t bytes = 0;
  Clock::time_point started;
};

void FcgiResponder::answer_if_overdue(Slot& slot, Clock::time_point now) {
  std::optional<Overdue> overdue = claim_if_overdue(slot, now);
  if (!overdue) return;
  answer_for_stuck_thread(*overdue);  // I/O, with no lock held
  threads_.abandon();
  retire(RetireReason::kRequestTimeout);
}

/// Under the slot's lock and without I/O: takes the request from its thread and renders the 504.
std::optional<FcgiResponder::Overdue> FcgiResponder::claim_if_overdue(Slot& slot, Clock::time_point now) {
  const std::lock_guard lock(slot.mutex);
  if (!slot.handling || now - slot.started < options_.request_timeout) return std::nullopt;
  slot.handling = false;
  slot.timed_out = true;
  const Request request = detail::RequestAccess::make(slot.incoming->envp.data(), {});
  Overdue overdue;
  overdue.connection = slot.connection;
  overdue.reply = dispatcher_.refuse(
      request, 504, fmt::format("the call did not finish within {} s", options_.request_timeout.count() / 1000));
  overdue.bytes = encode(overdue.out, slot.incoming->id, overdue.reply, request.method());
  overdue.method = request.method();
  overdue.call = raw_call_text(request.param("REQUEST_URI"), options_.prefix);
  overdue.started = slot.started;
  observe_request_end(slot.token, overdue.reply.status, now - slot.started);  // the stuck thread never will
  return overdue;
}

// The stuck thread owns the connection and will never touch it again: the watchdog
// sends the 504 (best effort, briefly), ends the connection and forgets it, so that a
// stop does not wait for it.
void FcgiResponder::answer_for_stuck_thread(Overdue& overdue) {
  FastcgiConnection* connection = overdue.connection;
  {
    const std::lock_guard lock(connections_mutex_);
    connections_.erase(connection);
  }
  connection->send(overdue.out, std::min<std::chrono::milliseconds>(options_.write_timeout, kWatchdogSendTimeout));
  bury(connection);
  open_connections_.fetch_sub(1);
  const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - overdue.started);
  log_access(overdue.method, overdue.call, overdue.reply.status, overdue.bytes, elapsed);
  spdlog::error("call {}: still running after {} ms; answered 504, retiring this worker", overdue.call,
                options_.request_timeout.count());
}

void FcgiResponder::close_stalled_connections(Clock::time_point now) {
  const std::lock_guard lock(connections_mutex_);
  for (FastcgiConnection* connection : connections_) {
    if (connection->in_use()) continue;
    // shutdown() makes the parked connection readable (EOF) and writable (error): a serving
    // thread then takes it and drops it the normal way, so no thread frees it behind another's back.
    if (now - connection->last_activity() > timeout_for(*connection)) ::shutdown(connection->fd(), SHUT_RDWR);
  }
}

/// A reply that makes no progress: write_timeout. A request begun, or none yet on a new
/// connection (a peer that never sends a byte): read_timeout. Between requests: idle_timeout.
std::chrono::milliseconds FcgiResponder::timeout_for(const FastcgiConnection& connection) const {
  if (connection.writing()) return options_.write_timeout;
  if (connection.mid_request() || !connection.served_any()) return options_.read_timeout;
  return options_.idle_timeout;
}

}  // namespace cppapi
