// SPDX-License-Identifier: MIT
// The same requests as the event engine, on libfcgi's blocking FCGX_Accept_r. What
// libfcgi cannot do safely is refused (keep-alive: every connection is closed after
// its reply) or bounded by socket timeouts, never left to hang a thread.
//
// The engine accepts each connection itself and hands it to FCGX_Accept_r, which then
// only reads the request: so the allow-list is checked before a byte is read, the socket
// timeouts are set before libfcgi's first read(), and libfcgi never touches the
// listening socket (its requests are initialised with none, -1).
#include "fastcgi/libfcgi_engine.hpp"

#include <fcgiapp.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/log.hpp"
#include "core/request_observer.hpp"
#include "dispatch/body_reader.hpp"
#include "dispatch/grammar.hpp"
#include "dispatch/reply_writer.hpp"
#include "dispatch/request_access.hpp"

namespace cppapi {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kStopCheckMs = 100;                              // how often a waiting thread looks at stopping_
constexpr auto kAcceptPause = std::chrono::milliseconds(250);  // after an accept error such as EMFILE
constexpr auto kAcceptWarningInterval = std::chrono::seconds(10);

// FCGX_Init installs handlers for SIGPIPE, SIGUSR1 and SIGTERM where the disposition is
// SIG_DFL or SIG_IGN (its SIGTERM/SIGUSR1 handlers only set a flag it reads around
// accept()). The process's own handlers are put back, whatever libfcgi did.
void init_libfcgi_keeping_signal_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    constexpr int kTouched[] = {SIGPIPE, SIGUSR1, SIGTERM};
    struct sigaction saved[std::size(kTouched)]{};
    for (std::size_t i = 0; i < std::size(kTouched); ++i) ::sigaction(kTouched[i], nullptr, &saved[i]);
    const int status = FCGX_Init();
    for (std::size_t i = 0; i < std::size(kTouched); ++i) ::sigaction(kTouched[i], &saved[i], nullptr);
    if (status != 0) throw std::runtime_error(fmt::format("FCGX_Init failed: {}", status));
  });
}

/// Every signal blocked while libfcgi does I/O: its read() and write() do not retry
/// EINTR, and a socket with a timeout is never restarted, so a SIGTERM landing here
/// would fail the request. The handler itself runs with the thread's own (empty) mask.
class SignalsHeld {
 public:
  SignalsHeld() {
    sigset_t all;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, &previous_);
  }
  ~SignalsHeld() { ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
  SignalsHeld(const SignalsHeld&) = delete;
  SignalsHeld& operator=(const SignalsHeld&) = delete;

 private:
  sigset_t previous_;
};

void set_socket_timeouts(int fd, std::chrono::milliseconds read_timeout, std::chrono::milliseconds write_timeout) {
  const auto as_timeval = [](std::chrono::milliseconds ms) {
    return timeval{static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>(ms.count() % 1000 * 1000)};
  };
  const timeval receive = as_timeval(read_timeout);
  const timeval send = as_timeval(write_timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &receive, sizeof receive);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send, sizeof send);
}

void put(std::string_view bytes, FCGX_Stream* stream) {
  constexpr std::size_t kMaxChunk = std::numeric_limits<int>::max() / 2;  // FCGX_PutStr takes an int
  while (!bytes.empty()) {
    const int chunk = static_cast<int>(std::min(bytes.size(), kMaxChunk));
    if (FCGX_PutStr(bytes.data(), chunk, stream) != chunk) return;  // the web server left
    bytes.remove_prefix(static_cast<std::size_t>(chunk));
  }
}

/// The reply as the event engine writes it (render_head: exact Content-Length). Returns
/// the body bytes it carries: none for HEAD, 204 and 304.
std::size_t write_reply(FCGX_Request& request, const Reply& reply, std::string_view method) {
  put(render_head(reply), request.out);
  if (!sends_body(reply, method)) return 0;
  put(reply.body, request.out);
  return reply.body.size();
}

/// The whole FCGI_STDIN, kept up to max_bytes and counted beyond (then a 413), as the
/// event engine does. A read error (the web server left, read_timeout) is a 400.
BodyRead read_request_body(FCGX_Request& request, std::size_t max_bytes) {
  const auto read = [&request](char* buffer, std::size_t size) -> long {
    const int got = FCGX_GetStr(buffer, static_cast<int>(size), request.in);
    return got == 0 && FCGX_GetError(request.in) != 0 ? -1 : got;
  };
  BodyRead body = read_body(nullptr, max_bytes, true, read);
  if (body.refusal && body.refusal->status() == 413) {
    char rest[16384];
    while (read(rest, sizeof rest) > 0) {
    }  // ends at the end of FCGI_STDIN, an error or read_timeout
  }
  return body;
}

std::size_t parameter_bytes(char** envp) {
  std::size_t total = 0;
  for (char** entry = envp; entry && *entry; ++entry) total += std::strlen(*entry);
  return total;
}

void log_reply(const Request& request, const Reply& reply, std::size_t bytes, Clock::time_point started,
               std::string_view prefix) {
  const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
  const std::string_view call =
      request.call().empty() ? raw_call_text(request.param("REQUEST_URI"), prefix) : request.call();
  log_access(request.method(), call, reply.status, bytes, elapsed);
}

}  // namespace

/// One serving thread's libfcgi request, where the watchdog can reach it. `mutex` guards
/// `handling` and `timed_out`; once timed_out is set the request is the watchdog's.
class LibfcgiResponder::Slot {
 public:
  void begin(Clock::time_point start) {
    const std::lock_guard lock(mutex);
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

  FCGX_Request request{};
  std::mutex mutex;
  Clock::time_point started;
  bool handling = false;
  bool timed_out = false;
  RequestToken token;
  Clock::time_point last_accept_warning{};
};

LibfcgiResponder::LibfcgiResponder(const Dispatcher& dispatcher, ResponderOptions options, int listen_fd,
                                   std::function<void(RetireReason)> on_retire)
    : dispatcher_(dispatcher), options_(std::move(options)), on_retire_(std::move(on_retire)) {
  init_libfcgi_keeping_signal_handlers();
  // A duplicate, closed once no thread polls or accepts on it: the caller may close
  // its own descriptor as soon as request_stop() returns.
  listen_fd_ = ::fcntl(listen_fd, F_DUPFD_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error(fmt::format("dup of the listening socket: {}", std::strerror(errno)));
  for (int i = 0; i < options_.threads; ++i) {
    slots_.push_back(std::make_unique<Slot>());
    FCGX_InitRequest(&slots_.back()->request, -1, 0);  // libfcgi itself never accepts
  }
  threads_.start(
      options_.threads, [this](ServingThreads::Index i) { serve_loop(*slots_[i]); },
      [this](ServingThreads::Index i) { return slots_[i]->abandoned(); },
      ServingThreads::watchdog_tick(options_.request_timeout), [this] { watch(); });
}

LibfcgiResponder::~LibfcgiResponder() {
  request_stop();
  threads_.finish();
}

void LibfcgiResponder::request_stop() {
  stopping_.store(true);
  const std::lock_guard lock(listener_mutex_);
  if (listener_users_ == 0 && listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
}

bool LibfcgiResponder::wait(std::chrono::milliseconds timeout) { return threads_.wait(timeout); }

int LibfcgiResponder::abandoned_threads() const { return threads_.abandoned(); }

void LibfcgiResponder::retire(RetireReason reason) {
  if (retired_.exchange(true)) return;
  if (on_retire_) on_retire_(reason);  // first, so that a replacement starts while we still accept
  request_stop();
}

void LibfcgiResponder::serve_loop(Slot& slot) {
  while (accept_next(slot)) {
    if (options_.max_requests > 0 && accepted_.fetch_add(1) + 1 >= options_.max_requests)
      retire(RetireReason::kMaxRequests);
    if (answer(slot) == Outcome::kAbandoned) return;  // the watchdog answered and counted us out
    served_.fetch_add(1, std::memory_order_relaxed);
    end_connection(slot);
  }
  threads_.leave();
}

bool LibfcgiResponder::accept_next(Slot& slot) {
  const SignalsHeld held;
  while (true) {  // until a request, a stop, or the listener is gone
    const int fd = accept_connection(slot);
    if (fd == kNoMoreConnections) return false;
    if (fd < 0 || !admit(fd)) continue;
    // ipcFd and keepConnection are below fcgiapp.h's "Don't use anything below here"
    // line (stable through 2.4.x). With a connection in ipcFd FCGX_Accept_r skips its
    // accept() and reads the request; keepConnection stops the FCGX_Finish_r it starts
    // with from closing that connection (it is set again from the request's flags).
    slot.request.ipcFd = fd;
    slot.request.keepConnection = 1;
    // A malformed request: libfcgi closes the connection and tries to accept on socket -1.
    if (FCGX_Accept_r(&slot.request) != 0) continue;
    if (slot.request.keepConnection && !warned_about_keep_alive_.exchange(true))
      spdlog::warn(
          "the web server keeps FastCGI connections (nginx fastcgi_keep_conn on): engine libfcgi closes each "
          "after its reply, and a POST the web server sends on one it still thinks open fails (502); use the "
          "config without keep-alive (docs/engine.md)");
    if (const std::size_t bytes = parameter_bytes(slot.request.envp); bytes > options_.parser_limits.max_params_bytes) {
      spdlog::warn("dropping a FastCGI connection: parameters of {} bytes, over max_params_bytes", bytes);
      FCGX_Free(&slot.request, 1);
      continue;
    }
    return true;
  }
}

// One thread of the process waits for the listener at a time, the others for their turn
// (leader/follower): poll() wakes every poller of a socket, so T pollers would cost T-1
// useless wake-ups per connection. poll() has a timeout so that a stop needs no signal;
// accept() finds nothing (EAGAIN) when a sibling process was faster.
int LibfcgiResponder::accept_connection(Slot& slot) {
  const std::lock_guard turn(accept_turn_);
  int listener;
  {
    const std::lock_guard lock(listener_mutex_);
    if (stopping_.load() || listen_fd_ < 0) return kNoMoreConnections;
    listener = listen_fd_;
    ++listener_users_;
  }
  pollfd wait{listener, POLLIN, 0};
  int fd = -1;
  int error = EAGAIN;
  if (::poll(&wait, 1, kStopCheckMs) > 0 && !stopping_.load()) {  // a sibling thread may have retired us meanwhile
    fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);     // blocking: libfcgi's reads and writes block
    error = fd < 0 ? errno : 0;
  }
  leave_listener();
  if (fd >= 0 || error == EAGAIN || error == EWOULDBLOCK || error == EINTR || error == ECONNABORTED) return fd;
  if (error == EBADF || error == EINVAL || error == ENOTSOCK) {  // closed or shut down under us
    spdlog::info("the listening socket is closed: no longer accepting");
    return kNoMoreConnections;
  }
  // EMFILE and the like: a level-triggered listener would wake us at once, again and again.
  if (const auto now = Clock::now(); now - slot.last_accept_warning >= kAcceptWarningInterval) {
    slot.last_accept_warning = now;
    spdlog::warn("accept: {}; pausing accept for {} ms at a time", std::strerror(error), kAcceptPause.count());
  }
  std::this_thread::sleep_for(kAcceptPause);
  return -1;
}

void LibfcgiResponder::leave_listener() {
  const std::lock_guard lock(listener_mutex_);
  if (--listener_users_ == 0 && stopping_.load() && listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
  }
}

/// The allow-list, before a byte is read; then the timeouts every read and write of
/// libfcgi's on this connection gets. False: closed.
bool LibfcgiResponder::admit(int fd) {
  if (!options_.allowed_peers.allows_all()) {
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    const auto* address = reinterpret_cast<const sockaddr*>(&peer);
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0 ||
        !options_.allowed_peers.allows(address, length)) {
      spdlog::warn("refused a FastCGI connection from {}: not in allow_from", peer_address_text(address, length));
      ::close(fd);
      return false;
    }
  }
  set_socket_timeouts(fd, options_.read_timeout, options_.write_timeout);
  return true;
}

LibfcgiResponder::Outcome LibfcgiResponder::answer(Slot& slot) {
  FCGX_Request& fcgx = slot.request;
  const auto started = Clock::now();
  BodyRead body;
  {
    const SignalsHeld held;
    body = read_request_body(fcgx, options_.parser_limits.max_body_bytes);
  }
  Request request = detail::RequestAccess::make(fcgx.envp, body.bytes);
  slot.token = observe_request_begin(request);
  Reply reply;
  if (body.refusal) {
    reply = dispatcher_.refuse(request, body.refusal->status(), body.refusal->what());
  } else {
    slot.begin(started);
    try {
      reply = dispatcher_.handle(request);
    } catch (...) {  // handle() catches handler errors; this is bad_alloc and the like
      if (!slot.end()) return Outcome::kAbandoned;
      reply = dispatcher_.refuse(request, 500, "internal error");
    }
    if (!slot.end()) return Outcome::kAbandoned;
  }
  const SignalsHeld held;
  const std::size_t bytes = write_reply(fcgx, reply, request.method());
  observe_request_end(slot.token, reply.status, Clock::now() - started);
  log_reply(request, reply, bytes, started, options_.prefix);
  return Outcome::kAnswered;
}

// FCGX_Finish_r flushes the reply and ends the request; the connection is then closed
// even when the web server asked to keep it (FCGI_KEEP_CONN): kept, it would park this
// thread in read() until the web server sends its next request on it. It is closed here,
// at once: libfcgi's own close would wait up to 2 s for the peer to close first.
void LibfcgiResponder::end_connection(Slot& slot) {
  const SignalsHeld held;
  FCGX_Request& request = slot.request;
  request.keepConnection = 1;  // below the "Don't use" line, as ipcFd: Finish_r leaves the connection open
  FCGX_Finish_r(&request);     // after a stream error it closes the connection itself (ipcFd -1)
  if (request.ipcFd >= 0) {
    ::close(request.ipcFd);
    request.ipcFd = -1;
  }
}

// Not FCGX_Finish_r: it frees the parameters, which the stuck handler may still read.
// Closing both output streams writes their end records and END_REQUEST; the streams and
// parameters stay allocated for the abandoned thread, and go with the retiring process.
void LibfcgiResponder::end_connection_under_stuck_handler(Slot& slot) {
  const SignalsHeld held;
  FCGX_Request& request = slot.request;
  FCGX_FClose(request.err);
  FCGX_FClose(request.out);
  ::close(request.ipcFd);
  request.ipcFd = -1;
}

/// One watchdog tick: handlers that outlived request_timeout.
void LibfcgiResponder::watch() {
  if (options_.request_timeout.count() == 0) return;
  const auto now = Clock::now();
  for (auto& slot : slots_) answer_if_overdue(*slot, now);
}

// Once timed_out is set the stuck thread never touches its request again (Slot::end), so
// the watchdog answers it (504) and closes its connection, as the event engine does.
void LibfcgiResponder::answer_if_overdue(Slot& slot, Clock::time_point now) {
  {
    const std::lock_guard lock(slot.mutex);
    if (!slot.handling || now - slot.started < options_.request_timeout) return;
    slot.handling = false;
    slot.timed_out = true;
  }
  const Request request = detail::RequestAccess::make(slot.request.envp, {});
  const Reply reply = dispatcher_.refuse(
      request, 504, fmt::format("the call did not finish within {} s", options_.request_timeout.count() / 1000));
  observe_request_end(slot.token, reply.status, now - slot.started);  // the stuck thread never will
  std::size_t bytes = 0;
  {
    const SignalsHeld held;
    bytes = write_reply(slot.request, reply, request.method());
  }
  log_reply(request, reply, bytes, slot.started, options_.prefix);
  spdlog::error("call {}: still running after {} ms; answered 504, retiring this worker",
                raw_call_text(request.param("REQUEST_URI"), options_.prefix), options_.request_timeout.count());
  end_connection_under_stuck_handler(slot);
  threads_.abandon();
  retire(RetireReason::kRequestTimeout);
}

}  // namespace cppapi
