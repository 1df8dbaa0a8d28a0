// SPDX-License-Identifier: MIT
// The request timeout cannot stop a handler: C++ has no safe way to cancel a thread.
// So the watchdog answers in its place (504), marks the thread abandoned, and the
// responder retires; the process exits once the other requests are done, and the
// stuck thread goes with it. A per-thread slot and its mutex decide who writes: the
// handler's thread or the watchdog, never both.
#include "fastcgi/responder.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/log.hpp"
#include "dispatch/grammar.hpp"
#include "dispatch/reply_writer.hpp"
#include "dispatch/request_access.hpp"
#include "fastcgi/connection.hpp"

namespace cppapi {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kStopCheckMs = 100;                        // how often an idle thread looks at stopping_
constexpr auto kSendTimeout = std::chrono::seconds(30);  // a web server that stops reading our reply

/// The reply as FastCGI records in `out` (reused between requests). Returns the
/// body bytes it carries: none for HEAD, 204 and 304.
std::size_t encode(std::string& out, std::uint16_t id, const Reply& reply, std::string_view method) {
  out.clear();
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

  std::string out;
  std::mutex mutex;
  FastcgiConnection* connection = nullptr;
  const fastcgi::IncomingRequest* incoming = nullptr;
  Clock::time_point started;
  bool handling = false;
  bool timed_out = false;
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
  options.prefix = settings.prefix;
  return options;
}

FcgiResponder::FcgiResponder(const Dispatcher& dispatcher, ResponderOptions options, int listen_fd,
                             std::function<void(RetireReason)> on_retire)
    : dispatcher_(dispatcher), options_(std::move(options)), listen_fd_(listen_fd), on_retire_(std::move(on_retire)) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw std::runtime_error("epoll_create1 failed");
  epoll_set(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &listen_tag_, EPOLLIN | EPOLLONESHOT);
  const int threads = options_.threads;
  busy_threads_ = threads;
  for (int i = 0; i < threads; ++i) slots_.push_back(std::make_unique<Slot>());
  for (auto& slot : slots_) threads_.emplace_back([this, &slot = *slot] { serve_loop(slot); });
  watchdog_ = std::thread([this] { watch(); });
}

FcgiResponder::~FcgiResponder() {
  request_stop();
  {
    const std::lock_guard lock(threads_mutex_);
    watchdog_stop_ = true;
  }
  threads_changed_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  join_threads();
  // Idle kept-alive connections: nginx retries an idempotent request that finds one closed.
  for (FastcgiConnection* connection : connections_) delete connection;
  ::close(epoll_fd_);
}

void FcgiResponder::request_stop() {
  stopping_.store(true);
  const std::unique_lock lock(listen_mutex_);  // waits for an accept in progress
  if (listening_.exchange(false))
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);  // siblings sharing the socket keep accepting
}

bool FcgiResponder::wait(std::chrono::milliseconds timeout) {
  {
    std::unique_lock lock(threads_mutex_);
    if (!threads_changed_.wait_for(lock, timeout, [this] { return busy_threads_ == 0; })) return false;
  }
  join_threads();
  return true;
}

void FcgiResponder::join_threads() {
  for (std::size_t i = 0; i < threads_.size(); ++i) {
    if (!threads_[i].joinable()) continue;
    if (slots_[i]->abandoned())
      threads_[i].detach();  // stuck for good
    else
      threads_[i].join();
  }
}

int FcgiResponder::abandoned_threads() const {
  const std::lock_guard lock(threads_mutex_);
  return abandoned_;
}

void FcgiResponder::retire(RetireReason reason) {
  if (retired_.exchange(true)) return;
  if (on_retire_) on_retire_(reason);  // first, so that a replacement starts while we still accept
  request_stop();
}

void FcgiResponder::thread_done() {
  {
    const std::lock_guard lock(threads_mutex_);
    --busy_threads_;
  }
  threads_changed_.notify_all();
}

void FcgiResponder::serve_loop(Slot& slot) {
  while (true) {
    epoll_event event{};
    const int ready = ::epoll_wait(epoll_fd_, &event, 1, kStopCheckMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) {
      spdlog::error("epoll_wait: {}", std::strerror(errno));
      break;
    }
    if (ready == 0) {
      if (stopping_.load(std::memory_order_relaxed) && drained()) break;
      continue;
    }
    FastcgiConnection* connection =
        event.data.ptr == &listen_tag_ ? accept_one() : static_cast<FastcgiConnection*>(event.data.ptr);
    if (connection && !serve_connection(*connection, slot)) return;  // abandoned
  }
  thread_done();
}

// One connection per wake-up, taken by a thread that is free to serve it at once:
// the kernel's listen queue stays the queue, and sibling processes sharing the
// socket get their share instead of one process hoarding connections it cannot serve.
FastcgiConnection* FcgiResponder::accept_one() {
  int fd;
  sockaddr_storage peer{};
  socklen_t peer_length;
  {
    const std::shared_lock listening(listen_mutex_);
    if (!listening_.load()) return nullptr;  // stopped since the wake-up: the socket may be closed
    do {
      peer_length = sizeof peer;
      fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &peer_length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
    if (fd < 0 && errno != EAGAIN && errno != EWOULDBLOCK) spdlog::warn("accept: {}", std::strerror(errno));
    if (listening_.load()) epoll_set(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &listen_tag_, EPOLLIN | EPOLLONESHOT);
  }
  if (fd < 0) return nullptr;  // a sibling process took it, or out of descriptors
  const auto* peer_address = reinterpret_cast<const sockaddr*>(&peer);
  if (!options_.allowed_peers.allows(peer_address, peer_length)) {
    spdlog::warn("refused a FastCGI connection from {}: not in allow_from",
                 peer_address_text(peer_address, peer_length));
    ::close(fd);  // before reading a byte
    return nullptr;
  }
  auto* connection = new FastcgiConnection(fd, options_.parser_limits);
  const std::lock_guard lock(connections_mutex_);
  connections_.insert(connection);
  return connection;
}

bool FcgiResponder::drained() {
  const std::lock_guard lock(connections_mutex_);
  return std::all_of(connections_.begin(), connections_.end(), [](const FastcgiConnection* connection) {
    return !connection->in_use() && connection->between_requests();
  });
}

bool FcgiResponder::serve_connection(FastcgiConnection& connection, Slot& slot) {
  {
    const std::lock_guard lock(connection.handover());
    connection.set_in_use(true);
  }
  fastcgi::IncomingRequest incoming;
  while (true) {
    switch (connection.next_request(incoming)) {
      case FastcgiConnection::Next::kWaiting:
        // Stopping: close a kept connection once its requests are answered. Parked, it would
        // bring the web server's next requests here (nginx reuses the connection it used
        // last) and the stop would never end; nginx retries an idempotent one that finds it closed.
        if (stopping_.load() && connection.between_requests()) {
          drop(&connection);
          return true;
        }
        park(connection);
        return true;
      case FastcgiConnection::Next::kClosed:
        if (!connection.problem().empty()) spdlog::warn("dropping a FastCGI connection: {}", connection.problem());
        drop(&connection);
        return true;
      case FastcgiConnection::Next::kRequest:
        if (options_.max_requests > 0 && accepted_.fetch_add(1) + 1 >= options_.max_requests)
          retire(RetireReason::kMaxRequests);
        const Outcome outcome = answer(connection, incoming, slot);
        if (outcome == Outcome::kAbandoned) return false;  // the watchdog finished the request and counted us out
        served_.fetch_add(1, std::memory_order_relaxed);
        if (outcome == Outcome::kDrop || !incoming.keep_connection) {
          drop(&connection);
          return true;
        }
        break;  // a kept connection: the web server may already have sent the next request
    }
  }
}

FcgiResponder::Outcome FcgiResponder::answer(FastcgiConnection& connection, const fastcgi::IncomingRequest& incoming,
                                             Slot& slot) {
  const auto started = Clock::now();
  Request request = detail::RequestAccess::make(incoming.envp.data(), incoming.body);
  Reply reply;
  if (incoming.body_too_large()) {
    reply = dispatcher_.refuse(
        request, 413, fmt::format("request body too large: limit {} bytes", options_.parser_limits.max_body_bytes));
  } else {
    slot.begin(connection, incoming, started);
    try {
      reply = dispatcher_.handle(request);
    } catch (...) {  // handle() catches handler errors; this is bad_alloc and the like
      if (!slot.end()) return Outcome::kAbandoned;
      reply = dispatcher_.refuse(request, 500, "internal error");
    }
    if (!slot.end()) return Outcome::kAbandoned;
  }
  const std::size_t bytes = encode(slot.out, incoming.id, reply, request.method());
  const bool sent = connection.send(slot.out, kSendTimeout);
  log_reply(request, reply, bytes, started, options_.prefix);
  return sent ? Outcome::kKeep : Outcome::kDrop;
}

void FcgiResponder::park(FastcgiConnection& connection) {
  // From epoll_ctl on, another thread may take the connection, serve it and free it.
  // The hand-over lock makes it wait until this thread is done with it, epoll_ctl
  // included (the kernel orders the two as well; the lock says so to ThreadSanitizer).
  bool parked;
  {
    const std::lock_guard lock(connection.handover());
    const int operation = connection.registered() ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    connection.set_registered();
    connection.set_in_use(false);
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
    event.data.ptr = &connection;
    parked = ::epoll_ctl(epoll_fd_, operation, connection.fd(), &event) == 0;
  }
  if (!parked) {
    spdlog::warn("epoll_ctl on a connection: {}", std::strerror(errno));
    drop(&connection);
  }
}

void FcgiResponder::drop(FastcgiConnection* connection) {
  {
    const std::lock_guard lock(connections_mutex_);
    connections_.erase(connection);
  }
  delete connection;  // closing the fd also takes it out of the epoll set
}

void FcgiResponder::watch() {
  const auto tick =
      options_.request_timeout.count() > 0
          ? std::clamp<std::chrono::milliseconds>(options_.request_timeout / 10, std::chrono::milliseconds(10),
                                                  std::chrono::milliseconds(100))
          : std::chrono::milliseconds(1000);
  std::unique_lock lock(threads_mutex_);
  while (!watchdog_stop_) {
    threads_changed_.wait_for(lock, tick);
    lock.unlock();
    const auto now = Clock::now();
    if (options_.request_timeout.count() > 0)
      for (auto& slot : slots_) answer_if_overdue(*slot, now);
    close_stalled_connections(now);
    lock.lock();
  }
}

void FcgiResponder::answer_if_overdue(Slot& slot, Clock::time_point now) {
  {
    const std::lock_guard lock(slot.mutex);
    if (!slot.handling || now - slot.started < options_.request_timeout) return;
    slot.handling = false;
    slot.timed_out = true;
    const Request request = detail::RequestAccess::make(slot.incoming->envp.data(), {});
    const Reply reply = dispatcher_.refuse(
        request, 504, fmt::format("the call did not finish within {} s", options_.request_timeout.count() / 1000));
    std::string out;
    const std::size_t bytes = encode(out, slot.incoming->id, reply, request.method());
    slot.connection->send(out, kSendTimeout);
    // The stuck thread owns the connection and will never read it again: end it here,
    // and forget it, so that a stop does not wait for it (it dies with the process).
    ::shutdown(slot.connection->fd(), SHUT_RDWR);
    {
      const std::lock_guard connections_lock(connections_mutex_);
      connections_.erase(slot.connection);
    }
    log_reply(request, reply, bytes, slot.started, options_.prefix);
    spdlog::error("call {}: still running after {} ms; answered 504, retiring this worker",
                  raw_call_text(request.param("REQUEST_URI"), options_.prefix), options_.request_timeout.count());
  }
  {
    const std::lock_guard lock(threads_mutex_);
    --busy_threads_;
    ++abandoned_;
  }
  threads_changed_.notify_all();
  retire(RetireReason::kRequestTimeout);
}

void FcgiResponder::close_stalled_connections(Clock::time_point now) {
  const std::lock_guard lock(connections_mutex_);
  for (FastcgiConnection* connection : connections_) {
    if (connection->in_use()) continue;
    const auto quiet = now - connection->last_activity();
    const auto limit = connection->mid_request() ? options_.read_timeout : options_.idle_timeout;
    // shutdown() makes the parked connection readable (EOF): a serving thread then
    // takes it and drops it the normal way, so no thread frees it behind another's back.
    if (quiet > limit) ::shutdown(connection->fd(), SHUT_RDWR);
  }
}

}  // namespace cppapi
