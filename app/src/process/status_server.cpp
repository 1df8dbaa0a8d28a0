// SPDX-License-Identifier: MIT
// The status thread is the master's only thread besides its main one. It takes no
// lock a forked worker could need (it does not log while serving, and the mutex it
// shares with the main thread is never used in a worker), and all signals stay
// blocked in it: the master's sigtimedwait() loop keeps receiving every one of them.
#include "process/status_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string_view>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/build_info.hpp"
#include "core/request_observer.hpp"
#include "fastcgi/peer_allow_list.hpp"
#include "fastcgi/protocol.hpp"
#include "process/listen_queue.hpp"
#include "process/privileges.hpp"
#include "process/sd_notify.hpp"
#include "process/worker_observer.hpp"

#ifndef CPPAPI_VERSION
#define CPPAPI_VERSION "0.0.0"
#endif

namespace cppapi {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kSampleEvery{100};
constexpr milliseconds kStatusEvery{2000};
constexpr milliseconds kConnectionDeadline{5000};          // idle, or since the last request
constexpr milliseconds kConnectionLifetime{30000};         // in all, however many requests it sends
constexpr std::size_t kMaxInput = 64 * 1024;               // unparsed bytes of one connection
constexpr auto kHeartbeatStale = std::chrono::seconds(5);  // the master's loop wakes at least every second

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

std::uint64_t rss_bytes(pid_t pid) {
  std::ifstream statm(fmt::format("/proc/{}/statm", pid));
  std::uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

std::string_view param(const std::vector<const char*>& envp, std::string_view name) {
  for (const char* entry : envp) {
    if (!entry) break;
    const std::string_view text(entry);
    if (text.size() > name.size() && text[name.size()] == '=' && text.starts_with(name))
      return text.substr(name.size() + 1);
  }
  return {};
}

std::string http_reply(int status, std::string_view reason, std::string_view content_type, std::string_view body,
                       bool head_only) {
  std::string reply =
      fmt::format("Status: {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\r\n", status,
                  reason, content_type, body.size());
  if (!head_only) reply += body;
  return reply;
}

/// Worker slots: the pool, plus room for retiring workers of a few reloads in a row.
std::size_t slot_count(int processes) { return static_cast<std::size_t>(std::max(64, 8 * processes + 16)); }

}  // namespace

struct StatusService::Connection {
  int fd = -1;
  fastcgi::RequestParser parser{fastcgi::ParserLimits{64 * 1024, 64 * 1024}};
  std::string in;
  std::string out;
  bool close_after = false;
  bool buffered = false;  // `in` may hold another whole request (read no more until it is answered)
  Clock::time_point deadline;
  Clock::time_point end_of_life;
};

std::unique_ptr<StatusService> StatusService::start(const Registry& registry, const Settings& settings, int listen_fd,
                                                    uid_t default_owner) {
  if (settings.status_listen.empty() && !notify_enabled()) return nullptr;
  return std::make_unique<StatusService>(registry, settings, listen_fd, default_owner);
}

StatusService::StatusService(const Registry& registry, const Settings& settings, int listen_fd, uid_t default_owner)
    : registry_(registry),
      listen_fd_(listen_fd),
      master_pid_(::getpid()),
      start_unix_(static_cast<std::int64_t>(std::time(nullptr))),
      start_(Clock::now()),
      scoreboard_(slot_count(settings.processes), registry.all().size() + 1),
      folded_(registry.all().size() + 1),
      processes_(settings.processes),
      threads_(settings.threads),
      allow_from_(settings.allow_from) {
  for (const detail::CallRecord* record : registry.all()) call_names_.emplace_back(record->name);
  call_names_.emplace_back("(unknown)");
  for (auto& fd : connection_fds_) fd.store(-1);
  if (!settings.status_listen.empty()) {
    // As the main socket (command_line.cpp): nginx, allowed there, is allowed here.
    const uid_t owner = settings.socket_owner.empty() ? default_owner : find_user(settings.socket_owner).uid;
    const gid_t group = settings.socket_group.empty() ? static_cast<gid_t>(-1) : find_group(settings.socket_group);
    status_socket_.emplace(ListenSocket::open(settings.status_listen, 64, settings.socket_mode, owner, group));
    spdlog::info("master: status on {} (ping, status, metrics)", status_socket_->spec());
  }
  watchdog_interval_ = watchdog_interval();
  heartbeat_ns_.store(now_ns());
  if (::pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("status: pipe2 failed");
  // Every signal blocked while the thread starts, so it starts (and stays) with all of them blocked.
  sigset_t all, previous;
  sigfillset(&all);
  ::pthread_sigmask(SIG_BLOCK, &all, &previous);
  thread_ = std::thread([this] { serve(); });
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

StatusService::~StatusService() {
  stop_.store(true);
  (void)!::write(wake_pipe_[1], "x", 1);
  if (thread_.joinable()) thread_.join();
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
  if (status_socket_) status_socket_->close_and_remove();
}

// ---- hooks

void StatusService::park_thread() {
  if (!thread_.joinable()) return;
  std::unique_lock lock(fork_mutex_);
  fork_pending_ = true;
  (void)!::write(wake_pipe_[1], "f", 1);
  // Bounded: a thread that cannot park in time (it never blocks for long) is not waited for.
  fork_changed_.wait_for(lock, std::chrono::seconds(1), [this] { return thread_parked_; });
}

void StatusService::release_thread() {
  {
    const std::lock_guard lock(fork_mutex_);
    fork_pending_ = false;
  }
  fork_changed_.notify_all();
}

void StatusService::forget_listener() {
  park_thread();
  listen_fd_.store(-1);
  release_thread();
}

void StatusService::before_fork() {
  park_thread();
  pending_slot_ = scoreboard_.claim();
  if (pending_slot_ < 0 && !warned_no_slot_) {
    warned_no_slot_ = true;
    spdlog::warn("master: no free status slot for a new worker (more than {} at once): its requests are not counted",
                 scoreboard_.slots());
  }
}

void StatusService::after_fork(pid_t pid) {
  release_thread();
  if (pending_slot_ < 0) return;
  if (pid < 0) {
    std::vector<CallTotals> ignored(scoreboard_.calls());
    scoreboard_.fold_and_free(pending_slot_, ignored);
  } else {
    scoreboard_.set_pid(pending_slot_, pid);
    slot_by_pid_[pid] = pending_slot_;
  }
  pending_slot_ = -1;
}

void StatusService::in_child(const Settings& settings) {
  // The master's listener and thread are not ours; the mapping is.
  if (status_socket_) {
    status_socket_->disown_path();
    ::close(status_socket_->fd());
  }
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
  // And its clients' connections: kept open here, the master's close would not end them.
  for (auto& slot : connection_fds_)
    if (const int fd = slot.load(); fd >= 0) ::close(fd);
  if (pending_slot_ < 0) return;
  scoreboard_.set_pid(pending_slot_, ::getpid());
  scoreboard_.set_state(pending_slot_, SlotState::kRunning);
  // Lives until the worker _exit()s; never destroyed, like this object in the child.
  static WorkerObserver* observer = new WorkerObserver(scoreboard_, pending_slot_, registry_, settings.prefix,
                                                       milliseconds(settings.slowlog_threshold_ms));
  set_request_observer(observer);
}

int StatusService::slot_of(pid_t pid) const {
  const auto found = slot_by_pid_.find(pid);
  return found == slot_by_pid_.end() ? -1 : found->second;
}

void StatusService::worker_retiring(pid_t pid, RetireReason reason) {
  if (const int slot = slot_of(pid); slot >= 0) scoreboard_.set_state(slot, SlotState::kRetiring);
  const std::lock_guard lock(mutex_);
  ++restarts_[static_cast<std::size_t>(reason == RetireReason::kMaxRequests ? RestartReason::kMaxRequests
                                                                            : RestartReason::kTimeout)];
}

void StatusService::reloaded(const Settings& settings, const std::vector<pid_t>& old_workers) {
  for (const pid_t pid : old_workers)
    if (const int slot = slot_of(pid); slot >= 0) scoreboard_.set_state(slot, SlotState::kRetiring);
  const std::lock_guard lock(mutex_);
  ++generation_;
  restarts_[static_cast<std::size_t>(RestartReason::kReload)] += old_workers.size();
  processes_ = settings.processes;
  threads_ = settings.threads;
}

void StatusService::worker_exited(pid_t pid, bool expected) {
  const int slot = slot_of(pid);
  slot_by_pid_.erase(pid);
  const std::lock_guard lock(mutex_);
  if (!expected) ++restarts_[static_cast<std::size_t>(RestartReason::kCrash)];
  if (slot < 0) return;
  const Scoreboard::Folded folded = scoreboard_.fold_and_free(slot, folded_);
  folded_slow_ += folded.slow;
}

void StatusService::tick() {
  heartbeat_ns_.store(now_ns());
  if (failure_noted_.load(std::memory_order_acquire) && !failure_logged_.exchange(true))
    spdlog::error("master: status listener: {}: dropped that connection, still serving (logged once)", failure_);
}

void StatusService::note_failure(const char* what) {
  if (failure_noted_.load(std::memory_order_acquire)) return;
  std::strncpy(failure_, what, sizeof failure_ - 1);
  failure_noted_.store(true, std::memory_order_release);
}

void StatusService::register_fd(int fd) {
  for (auto& slot : connection_fds_) {
    int free = -1;
    if (slot.compare_exchange_strong(free, fd)) return;
  }
}

void StatusService::close_connection(int fd) {
  // Forgotten first: a worker forked in between keeps a copy (as before) rather than closing
  // a descriptor the master reused meanwhile.
  for (auto& slot : connection_fds_) {
    int expected = fd;
    if (slot.compare_exchange_strong(expected, -1)) break;
  }
  ::close(fd);
}

void StatusService::notify_reloading() { ::cppapi::notify_reloading(); }

void StatusService::notify_ready() { notify("READY=1"); }

void StatusService::notify_stopping() { notify("STOPPING=1"); }

// ---- the snapshot

StatusSnapshot StatusService::snapshot() {
  StatusSnapshot s;
  s.version = full_version();  // "0.1.0 (02711c7)": the build id too
  s.pid = master_pid_;
  s.start_time = start_unix_;
  s.uptime_seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  s.call_names = call_names_;
  {
    const std::lock_guard lock(mutex_);  // a worker folded meanwhile would count twice or not at all
    s.calls = folded_;
    scoreboard_.add_live(s.calls);
    s.slow_requests = folded_slow_ + scoreboard_.slow();
    s.restarts = restarts_;
    s.generation = generation_;
    s.processes = processes_;
    s.threads = threads_;
    s.active_requests = scoreboard_.active();
    for (const WorkerView& view : scoreboard_.workers())
      s.workers.push_back(
          WorkerStatus{view.pid, view.started_unix, view.requests, view.active, 0, std::string(describe(view.state))});
  }
  for (WorkerStatus& worker : s.workers)
    if (worker.pid > 0) worker.rss_bytes = rss_bytes(worker.pid);
  s.live_workers = static_cast<int>(s.workers.size());
  s.idle_threads = std::max<std::int64_t>(0, std::int64_t{s.processes} * s.threads - s.active_requests);
  s.listen_queue = queue_now_.load();
  s.max_listen_queue = queue_max_.load();
  return s;
}

// ---- the thread

void StatusService::sample_listen_queue() {
  const int fd = listen_fd_.load();
  if (fd < 0) return;
  const std::optional<ListenQueue> queue = listen_queue(fd);
  if (!queue) return;
  queue_now_.store(queue->length);
  if (queue->length > queue_max_.load()) queue_max_.store(queue->length);
}

void StatusService::notify_status() {
  if (!notify_enabled()) return;
  const StatusSnapshot s = snapshot();
  notify(fmt::format("STATUS={} workers, {} active, {} idle, {} requests, {} restarts, listen queue {}", s.live_workers,
                     s.active_requests, s.idle_threads, s.requests_total(), s.worker_restarts(), s.listen_queue));
}

std::string StatusService::answer(const std::vector<const char*>& envp) {
  const std::string_view method = param(envp, "REQUEST_METHOD");
  const bool head_only = method == "HEAD";
  if (method != "GET" && !head_only)
    return http_reply(405, "Method Not Allowed", "text/plain; charset=utf-8", "GET or HEAD only\n", false);
  std::string_view uri = param(envp, "REQUEST_URI");
  if (uri.empty()) uri = param(envp, "DOCUMENT_URI");
  if (uri.empty()) uri = param(envp, "SCRIPT_NAME");
  std::string_view query = param(envp, "QUERY_STRING");
  if (query.empty() && uri.find('?') != std::string_view::npos) query = uri.substr(uri.find('?') + 1);
  switch (choose_status_page(uri)) {
    case StatusPage::kPing:
      return http_reply(200, "OK", "text/plain; charset=utf-8", "pong", head_only);
    case StatusPage::kStatus: {
      const bool full = query_has(query, "full");
      if (query_has(query, "json"))
        return http_reply(200, "OK", "application/json", render_status_json(snapshot(), full), head_only);
      return http_reply(200, "OK", "text/plain; charset=utf-8", render_status_text(snapshot(), full), head_only);
    }
    case StatusPage::kMetrics: {
      const bool openmetrics = wants_openmetrics(param(envp, "HTTP_ACCEPT"));
      return http_reply(200, "OK", openmetrics ? kOpenMetricsContentType : kPrometheusContentType,
                        render_metrics(snapshot(), openmetrics), head_only);
    }
    case StatusPage::kNotFound:
      break;
  }
  return http_reply(404, "Not Found", "text/plain; charset=utf-8", "status pages: ping, status, metrics\n", head_only);
}

// At most one request per call, and none while a reply is still on its way: a client that
// pipelines requests and reads nothing costs one reply and kMaxInput bytes, not a snapshot per
// request. Returns false when the connection is done with (close it).
bool StatusService::handle(Connection& connection) {
  if (!connection.buffered) {
    char buffer[16384];
    while (connection.in.size() < kMaxInput) {
      const ssize_t got = ::recv(connection.fd, buffer, std::min(sizeof buffer, kMaxInput - connection.in.size()), 0);
      if (got > 0) {
        connection.in.append(buffer, static_cast<std::size_t>(got));
        continue;
      }
      if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) connection.close_after = true;
      break;
    }
  }
  std::string_view input = connection.in;
  const auto result = connection.parser.consume(input, connection.out);
  connection.in.erase(0, connection.in.size() - input.size());
  connection.buffered = false;
  switch (result) {
    case fastcgi::RequestParser::Result::kBroken:
      connection.out.clear();
      return false;
    case fastcgi::RequestParser::Result::kClose:  // refused or aborted without KEEP_CONN: what it queued, then EOF
      connection.close_after = true;
      return true;
    case fastcgi::RequestParser::Result::kNeedMore:
      // Full and still no request: more than any status request needs.
      if (connection.in.size() >= kMaxInput) return false;
      return true;
    case fastcgi::RequestParser::Result::kRequestReady:
      break;
  }
  fastcgi::IncomingRequest request = connection.parser.take_request();
  const std::string reply = answer(request.envp);
  std::string_view head = reply, body;
  if (const auto end = reply.find("\r\n\r\n"); end != std::string::npos) {
    head = std::string_view(reply).substr(0, end + 4);
    body = std::string_view(reply).substr(end + 4);
  }
  fastcgi::append_reply(connection.out, request.id, head, body);
  if (!request.keep_connection) connection.close_after = true;
  connection.buffered = !connection.in.empty() && !connection.close_after;
  connection.deadline = Clock::now() + kConnectionDeadline;
  return true;
}

void StatusService::park_while_forking() {
  std::unique_lock lock(fork_mutex_);
  if (!fork_pending_) return;
  thread_parked_ = true;
  fork_changed_.notify_all();
  fork_changed_.wait(lock, [this] { return !fork_pending_ || stop_.load(); });
  thread_parked_ = false;
}

void StatusService::serve() {
  std::vector<std::unique_ptr<Connection>> connections;
  auto next_sample = Clock::now();
  auto next_status = Clock::now();
  auto next_watchdog = Clock::now();
  const std::optional<PeerAllowList> peers =
      status_socket_ && !status_socket_->is_unix()
          ? std::optional<PeerAllowList>(PeerAllowList::from(allow_from_, std::getenv("FCGI_WEB_SERVER_ADDRS")))
          : std::nullopt;
  const auto drop = [&](std::size_t index) {
    close_connection(connections[index]->fd);
    connections.erase(connections.begin() + static_cast<std::ptrdiff_t>(index));
  };
  // Full: the oldest connection with no reply on its way makes room (an idle one holds no
  // thread, but must not hold the last place either).
  const auto make_room = [&] {
    for (std::size_t i = 0; i < connections.size(); ++i)
      if (connections[i]->out.empty()) {
        drop(i);
        return true;
      }
    return false;
  };
  while (!stop_.load()) {
    park_while_forking();
    try {
      std::vector<pollfd> polled;
      polled.push_back({wake_pipe_[0], POLLIN, 0});
      if (status_socket_) polled.push_back({status_socket_->fd(), POLLIN, 0});
      bool buffered = false;
      for (const auto& connection : connections) {
        polled.push_back({connection->fd, static_cast<short>(connection->out.empty() ? POLLIN : POLLOUT), 0});
        buffered = buffered || (connection->buffered && connection->out.empty());
      }
      ::poll(polled.data(), polled.size(), buffered ? 0 : static_cast<int>(kSampleEvery.count()));
      const auto now = Clock::now();
      if (now >= next_sample) {
        sample_listen_queue();
        next_sample = now + kSampleEvery;
      }
      if (!ready_sent_.load() && notify_enabled()) {
        // READY=1 once every worker of the first generation has its responder up.
        const auto views = scoreboard_.workers();
        const int running = static_cast<int>(std::count_if(
            views.begin(), views.end(), [](const WorkerView& v) { return v.state == SlotState::kRunning; }));
        if (running >= processes_ && !ready_sent_.exchange(true)) notify("READY=1");
      }
      if (now >= next_status) {
        notify_status();
        next_status = now + kStatusEvery;
      }
      if (watchdog_interval_ && now >= next_watchdog) {
        if (now_ns() - heartbeat_ns_.load() < std::chrono::nanoseconds(kHeartbeatStale).count()) notify("WATCHDOG=1");
        next_watchdog = now + *watchdog_interval_;
      }
      if (stop_.load()) break;
      for (const pollfd& entry : polled) {
        if (entry.fd == wake_pipe_[0] && entry.revents) {
          char drain[64];
          while (::read(wake_pipe_[0], drain, sizeof drain) > 0) {
          }
        }
      }
      for (auto& connection : connections) {
        const auto found =
            std::find_if(polled.begin(), polled.end(), [&](const pollfd& p) { return p.fd == connection->fd; });
        const bool ready = found != polled.end() && found->revents != 0;
        try {
          if (connection->out.empty() && (ready || connection->buffered) && !handle(*connection)) {
            connection->out.clear();
            connection->close_after = true;
          }
          if (!connection->out.empty()) {
            const ssize_t sent = ::send(connection->fd, connection->out.data(), connection->out.size(), MSG_NOSIGNAL);
            if (sent > 0)
              connection->out.erase(0, static_cast<std::size_t>(sent));
            else if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
              connection->out.clear();
              connection->close_after = true;
            }
          }
        } catch (const std::exception& error) {  // bad_alloc and the like: this connection only
          note_failure(error.what());
          connection->out.clear();
          connection->close_after = true;
        }
      }
      for (std::size_t i = connections.size(); i-- > 0;) {
        const Connection& connection = *connections[i];
        if ((connection.close_after && connection.out.empty()) || now > connection.deadline ||
            now > connection.end_of_life)
          drop(i);
      }
      if (status_socket_ && polled[1].revents) {
        sockaddr_storage peer{};
        socklen_t length = sizeof peer;
        const int fd =
            ::accept4(status_socket_->fd(), reinterpret_cast<sockaddr*>(&peer), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
          if ((peers && !peers->allows(reinterpret_cast<sockaddr*>(&peer), length)) ||
              (connections.size() >= kMaxConnections && !make_room())) {
            ::close(fd);
          } else {
            register_fd(fd);
            auto connection = std::make_unique<Connection>();
            connection->fd = fd;
            connection->deadline = now + kConnectionDeadline;
            connection->end_of_life = now + kConnectionLifetime;
            connections.push_back(std::move(connection));
          }
        }
      }
    } catch (const std::exception& error) {  // never let the master die of its status page
      note_failure(error.what());
      while (!connections.empty()) drop(connections.size() - 1);
    }
  }
  while (!connections.empty()) drop(connections.size() - 1);
}

}  // namespace cppapi
