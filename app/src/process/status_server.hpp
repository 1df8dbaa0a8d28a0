// SPDX-License-Identifier: MIT
// What the master knows about its pool, and the small FastCGI listener that tells it
// (status_listen): ping, status (text, ?json, ?full), metrics (Prometheus,
// OpenMetrics). It runs on one thread of the master, never in a worker, and never
// runs a handler, so it answers while every worker thread is busy or every worker is
// being replaced. It also keeps systemd informed (sd_notify) and samples the listen
// queue. The master calls the hooks below from its main thread at each event of a
// worker's life; the scoreboard they keep lives in shared memory the workers write.
#pragma once
#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/retire_reason.hpp"
#include "core/settings.hpp"
#include "dispatch/registry.hpp"
#include "process/listen_socket.hpp"
#include "process/scoreboard.hpp"
#include "process/status_pages.hpp"

namespace cppapi {

class StatusService {
 public:
  /// Null when neither status_listen nor NOTIFY_SOCKET asks for it (then nothing is counted).
  /// Throws if the status listener cannot be opened. A unix status socket gets the main
  /// socket's owner and group: socket_owner, else `default_owner` (--user's uid when the
  /// master drops root for its workers), and socket_group.
  static std::unique_ptr<StatusService> start(const Registry& registry, const Settings& settings, int listen_fd,
                                              uid_t default_owner = static_cast<uid_t>(-1));

  StatusService(const Registry& registry, const Settings& settings, int listen_fd, uid_t default_owner);
  ~StatusService();
  StatusService(const StatusService&) = delete;
  StatusService& operator=(const StatusService&) = delete;

  // ---- hooks, from the master's main thread
  void before_fork();
  /// Before the master closes the main listening socket: stop sampling its queue.
  void forget_listener();                   ///< claims the next worker's slot
  void after_fork(pid_t pid);               ///< in the master: pid < 0 when fork failed
  void in_child(const Settings& settings);  ///< in the new worker, before run_worker()
  void worker_retiring(pid_t pid, RetireReason reason);
  void reloaded(const Settings& settings, const std::vector<pid_t>& old_workers);
  void worker_exited(pid_t pid, bool expected);  ///< expected: retiring or stopping, else a crash
  void tick();  ///< the master's loop is alive (for WATCHDOG=1); logs what the status thread could not
  void notify_reloading();
  void notify_ready();
  void notify_stopping();

  /// The status as the pages render it (also for tests).
  StatusSnapshot snapshot();

 private:
  struct Connection;
  void serve();
  void sample_listen_queue();
  void notify_status();
  bool handle(Connection& connection);
  void register_fd(int fd);
  void close_connection(int fd);
  void note_failure(const char* what);
  std::string answer(const std::vector<const char*>& envp);
  int slot_of(pid_t pid) const;

  const Registry& registry_;
  std::atomic<int> listen_fd_;  // -1 once the master is about to close it (forget_listener)
  const pid_t master_pid_;
  const std::int64_t start_unix_;
  const std::chrono::steady_clock::time_point start_;
  std::vector<std::string> call_names_;
  Scoreboard scoreboard_;
  int pending_slot_ = -1;
  bool warned_no_slot_ = false;
  std::map<pid_t, int> slot_by_pid_;  // master thread only

  std::mutex mutex_;  // guards the fields below (master thread writes, status thread reads)
  std::vector<CallTotals> folded_;
  std::uint64_t folded_slow_ = 0;
  std::array<std::uint64_t, 4> restarts_{};
  std::uint64_t generation_ = 0;
  int processes_;
  int threads_;

  std::atomic<std::uint32_t> queue_now_{0};
  std::atomic<std::uint32_t> queue_max_{0};
  std::atomic<std::int64_t> heartbeat_ns_{0};
  std::atomic<bool> ready_sent_{false};

  std::optional<ListenSocket> status_socket_;
  std::vector<std::string> allow_from_;  // TCP peers of the status listener, as for the main one
  std::optional<std::chrono::microseconds> watchdog_interval_;
  int wake_pipe_[2] = {-1, -1};
  // The status connections' descriptors, for in_child() to close in a worker forked while
  // they are open (the status thread writes them; -1: free).
  static constexpr std::size_t kMaxConnections = 64;
  std::array<std::atomic<int>, kMaxConnections + 1> connection_fds_;
  // An error the status thread survived, logged by the main thread (tick()): the status
  // thread never logs, since a worker forked while it held the logger's lock would hang.
  std::atomic<bool> failure_noted_{false};
  std::atomic<bool> failure_logged_{false};
  char failure_[160] = {};
  std::atomic<bool> stop_{false};
  std::thread thread_;

  // fork() with the status thread mid-allocation would hand the worker a locked
  // allocator (sanitizers' allocators have no fork handlers): before each fork the
  // thread parks at the top of its loop, holding nothing, until the fork is done.
  void park_while_forking();
  void park_thread();  // returns once the status thread holds nothing (or after 1 s)
  void release_thread();
  std::mutex fork_mutex_;
  std::condition_variable fork_changed_;
  bool fork_pending_ = false;   // guarded by fork_mutex_
  bool thread_parked_ = false;  // guarded by fork_mutex_
};

}  // namespace cppapi
