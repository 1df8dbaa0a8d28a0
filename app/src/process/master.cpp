// SPDX-License-Identifier: MIT
// The master never serves and has no threads: it forks workers, and learns everything
// from signals in one sigtimedwait() loop. SIGCHLD says a worker ended; a message on
// the retire channel (which raises a realtime signal) says a worker stopped accepting
// by itself and wants a successor now, not after it has drained. Workers inherit the
// blocked signal mask and the dispositions of take_over_signals(), which is what
// run_worker expects; each drops to the workers' user before anything else.
#include "process/master.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/config.hpp"
#include "core/log.hpp"
#include "core/retire_reason.hpp"
#include "process/exit_status.hpp"
#include "process/retire_channel.hpp"
#include "process/signals.hpp"
#include "process/status_server.hpp"
#include "process/upgrade.hpp"
#include "process/worker.hpp"

namespace cppapi {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kQuickDeath{1000};  // a worker dying younger than this counts toward a crash loop
constexpr milliseconds kFirstBackoff{100};
constexpr milliseconds kMaxBackoff{5000};
constexpr milliseconds kKillGrace{2000};  // on top of the shutdown timeout a worker gives itself
constexpr milliseconds kIdleWake{1000};

struct Worker {
  pid_t pid;
  Clock::time_point started;
  bool retiring = false;
  std::optional<Clock::time_point> kill_at;  // SIGKILL if still alive then
  bool outdated = false;                     // of the previous generation: serves until the new one is ready
  bool ready = false;                        // said it accepts (a ready notice)
};

/// A new generation of workers starting (reload, upgrade) while the previous one serves.
struct Handover {
  enum class Cause { kReload, kUpgrade };
  Cause cause;
  Clock::time_point deadline;  // not all ready by then: the handover fails
  Settings previous_settings;  // a failed reload goes back to them
  WorkerIdentity previous_identity;
};

/// A signal for a worker's main thread (its tid is its pid), the one that waits for it.
/// A process-directed kill() could land on a serving thread, which blocks nothing (the
/// children of handlers must start with a clean mask), and cut a handler's poll(),
/// connect() or read() short with EINTR.
void signal_worker(pid_t pid, int signal_number) {
  if (::syscall(SYS_tgkill, pid, pid, signal_number) != 0 && errno != ESRCH) ::kill(pid, signal_number);
}

/// The control signals, and those the retire channel raises.
sigset_t master_signals() {
  sigset_t set = control_signals();
  sigaddset(&set, retire_notice_signal());
  sigaddset(&set, SIGIO);
  return set;
}

class ProcessMaster {
 public:
  ProcessMaster(const Registry& registry, MasterSetup setup)
      : registry_(registry),
        settings_(std::move(setup.settings)),
        identity_(std::move(setup.identity)),
        listen_fd_(setup.listen_fd),
        opened_(setup.opened),
        reload_(std::move(setup.reload)),
        upgrade_(std::move(setup.upgrade)),
        retire_channel_(take_inherited_retire_channel()) {}

  int run();

 private:
  void start_missing_workers();
  bool start_worker();
  [[noreturn]] void run_child();
  void reap_workers();
  void on_worker_exit(const Worker& worker, int status);
  void take_worker_notices();
  void on_worker_notice(const WorkerNotice& notice);
  void on_ready_notice(Worker& worker);
  void on_retire_notice(Worker& worker, RetireReason reason);
  void become_worker_user() const;
  void stop_listening();
  void retire(Worker& worker);
  void reload();
  void upgrade();
  void adopt_previous_workers();
  void begin_handover(Handover::Cause cause, Settings previous_settings, WorkerIdentity previous_identity);
  int ready_new_workers() const;
  void finish_handover();
  void fail_handover(const std::string& why);
  void check_handover_deadline();
  void retire_surplus();
  void reopen_logs();
  void kill_overdue();
  int wait_for_signal(siginfo_t& info) const;
  int stop(int signal_number);
  int active_workers() const {
    return static_cast<int>(
        std::count_if(workers_.begin(), workers_.end(), [](const Worker& w) { return !w.retiring && !w.outdated; }));
  }

  const Registry& registry_;
  Settings settings_;
  WorkerIdentity identity_;
  const int listen_fd_;
  ListenSocket* opened_;
  std::function<Settings()> reload_;
  UpgradeListener upgrade_;
  const pid_t master_pid_ = ::getpid();
  RetireChannel retire_channel_;
  std::vector<Worker> workers_;
  std::optional<Handover> handover_;
  bool stopping_ = false;
  bool killed_any_ = false;
  int quick_deaths_ = 0;
  Clock::time_point next_start_{};
  std::unique_ptr<StatusService> status_;  // status pages, counters, sd_notify (process/status_server.cpp)
};

int ProcessMaster::run() {
  status_ = StatusService::start(registry_, settings_, listen_fd_,  // status hook
                                 identity_.account ? identity_.account->uid : static_cast<uid_t>(-1));
  adopt_previous_workers();  // after a SIGUSR2: the workers of the binary this process was

  while (true) {
    take_worker_notices();  // also those whose signal was merged into an earlier one
    start_missing_workers();
    siginfo_t info{};
    const int signal_number = wait_for_signal(info);
    if (signal_number == SIGTERM || signal_number == SIGINT) return stop(signal_number);
    if (signal_number == SIGCHLD) reap_workers();
    if (signal_number == SIGHUP) {
      if (status_) status_->notify_reloading();  // status hook
      reload();
      if (status_ && !handover_) status_->notify_ready();  // status hook; else once the handover ends
    }
    if (signal_number == SIGUSR1) reopen_logs();
    if (signal_number == SIGUSR2) upgrade();
    take_worker_notices();  // a ready notice that came in time must count before the deadline does
    check_handover_deadline();
    kill_overdue();
    if (status_) status_->tick();  // status hook
  }
}

void ProcessMaster::start_missing_workers() {
  if (Clock::now() < next_start_) return;
  for (int missing = settings_.processes - active_workers(); missing > 0; --missing)
    if (!start_worker()) return;
}

bool ProcessMaster::start_worker() {
  if (status_) status_->before_fork();  // status hook
  const pid_t pid = ::fork();
  if (pid == 0) run_child();
  if (status_) status_->after_fork(pid);  // status hook
  if (pid < 0) {
    spdlog::error("master: cannot start a worker: fork: {}; trying again in {} ms", std::strerror(errno),
                  kMaxBackoff.count());
    next_start_ = Clock::now() + kMaxBackoff;
    return false;
  }
  workers_.push_back(Worker{pid, Clock::now(), false, std::nullopt});
  return true;
}

void ProcessMaster::run_child() {
  int status = 1;
  try {
    if (opened_) opened_->disown_path();
    retire_channel_.close_master_end();
    become_worker_user();                // before any thread, before the first request
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // after the drop, which clears it: master killed, finish and stop
    if (::getppid() != master_pid_) ::_exit(0);
    if (status_) status_->in_child(settings_);  // status hook
    const int listen_fd = listen_fd_;
    status = run_worker(settings_, registry_, listen_fd,
                        WorkerLinks{retire_channel_.worker_end(), [listen_fd] { ::close(listen_fd); }});
  } catch (const std::exception& error) {
    spdlog::error("worker failed: {}", error.what());
  }
  spdlog::shutdown();
  ::_exit(status);  // never unwind into the master's frames (they own the socket file)
}

void ProcessMaster::become_worker_user() const {
  if (identity_.account) drop_privileges(*identity_.account, identity_.gid);
}

void ProcessMaster::reap_workers() {
  // A worker sends its notice before it exits: take it first, or a retirement whose
  // SIGCHLD comes before the notice's signal would look like a crash.
  take_worker_notices();
  int status = 0;
  pid_t pid;
  while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
    const auto found = std::find_if(workers_.begin(), workers_.end(), [pid](const Worker& w) { return w.pid == pid; });
    if (found == workers_.end()) continue;
    const Worker worker = *found;
    workers_.erase(found);
    on_worker_exit(worker, status);
  }
}

void ProcessMaster::on_worker_exit(const Worker& worker, int status) {
  if (status_) status_->worker_exited(worker.pid, worker.retiring || stopping_);  // status hook
  if (worker.retiring || stopping_) {
    spdlog::info("master: worker {} {}", worker.pid, describe_exit(status));
    return;
  }
  if (handover_ && !worker.outdated && !worker.ready) {
    fail_handover(fmt::format("new worker {} {} before it was ready", worker.pid, describe_exit(status)));
    return;
  }
  const auto now = Clock::now();
  quick_deaths_ = now - worker.started < kQuickDeath ? quick_deaths_ + 1 : 0;
  // The first quick death may be bad luck; from the second on, wait 100 ms, 200 ms, ... up to 5 s.
  const milliseconds delay = quick_deaths_ < 2
                                 ? milliseconds(0)
                                 : std::min(kMaxBackoff, kFirstBackoff * (1 << std::min(quick_deaths_ - 2, 6)));
  next_start_ = now + delay;
  if (delay.count() == 0)
    spdlog::warn("master: worker {} {}; starting a new one", worker.pid, describe_exit(status));
  else
    spdlog::warn("master: worker {} {}; {} workers in a row died within {} ms of starting: next start in {} ms",
                 worker.pid, describe_exit(status), quick_deaths_, kQuickDeath.count(), delay.count());
}

void ProcessMaster::take_worker_notices() {
  for (const WorkerNotice& notice : retire_channel_.drain()) on_worker_notice(notice);
}

void ProcessMaster::on_worker_notice(const WorkerNotice& notice) {
  const auto found =
      std::find_if(workers_.begin(), workers_.end(), [&](const Worker& w) { return w.pid == notice.pid; });
  if (found == workers_.end()) return;
  if (notice.kind == WorkerNotice::Kind::kReady) on_ready_notice(*found);
  if (notice.kind == WorkerNotice::Kind::kRetiring) on_retire_notice(*found, notice.reason);
}

void ProcessMaster::on_ready_notice(Worker& worker) {
  worker.ready = true;
  if (handover_ && ready_new_workers() >= settings_.processes) finish_handover();
}

void ProcessMaster::on_retire_notice(Worker& worker, RetireReason reason) {
  if (worker.retiring) return;
  spdlog::info("master: worker {} retiring ({}); starting its successor", worker.pid, describe(reason));
  worker.retiring = true;
  worker.kill_at = Clock::now() + milliseconds(settings_.shutdown_timeout_ms) + kKillGrace;
  if (status_) status_->worker_retiring(worker.pid, reason);  // status hook
}

void ProcessMaster::retire(Worker& worker) {
  signal_worker(worker.pid, SIGTERM);
  worker.retiring = true;
  worker.outdated = false;
  worker.kill_at = Clock::now() + milliseconds(settings_.shutdown_timeout_ms) + kKillGrace;
}

void ProcessMaster::reload() {
  Settings next;
  WorkerIdentity identity;
  try {
    next = reload_();
    if (!next.listen.empty() && next.listen != settings_.listen)
      spdlog::warn("master: the listen address cannot change on reload (restart for that); still on {}",
                   settings_.listen);
    next.listen = settings_.listen;
    identity = check_serve_settings(next, opened_ != nullptr);
    if (next.processes < 1)
      throw std::runtime_error(
          "processes = 0 would stop every worker and start none; restart to serve without a master");
    setup_logging(next.log_file, next.access_log, log_owner_for(identity));  // throws before it replaces the log
  } catch (const std::exception& error) {
    spdlog::error("master: reload refused, the running workers stay: {}", error.what());
    return;
  }
  Settings previous_settings = std::exchange(settings_, std::move(next));
  WorkerIdentity previous_identity = std::exchange(identity_, std::move(identity));
  std::vector<pid_t> old;
  for (const Worker& worker : workers_)
    if (!worker.retiring) old.push_back(worker.pid);
  spdlog::info("master: reload: starting {} new workers with {} threads; the {} old ones serve until they are ready",
               settings_.processes, settings_.threads, old.size());
  begin_handover(Handover::Cause::kReload, std::move(previous_settings), std::move(previous_identity));
  if (status_) status_->reloaded(settings_, old);  // status hook
}

/// New generation first; the previous one stops accepting only once every new worker
/// said it accepts (finish_handover), so the socket is never unserved, and a new
/// generation that cannot serve (fail_handover) leaves the previous one serving.
///
/// A handover while another is pending (a SIGHUP before the new workers were all ready):
/// that pending generation never served as the pool; it stops now, and the committed one
/// (`outdated`) stays the one to go back to, with the settings it was started with.
void ProcessMaster::begin_handover(Handover::Cause cause, Settings previous_settings,
                                   WorkerIdentity previous_identity) {
  if (handover_) {
    int stopped = 0;
    for (Worker& worker : workers_)
      if (!worker.retiring && !worker.outdated) {
        retire(worker);
        ++stopped;
      }
    spdlog::warn("master: the pending handover is replaced: its {} new workers are stopped", stopped);
    previous_settings = std::move(handover_->previous_settings);
    previous_identity = std::move(handover_->previous_identity);
    cause = Handover::Cause::kReload;  // a failure goes back to the committed generation's settings
  }
  for (Worker& worker : workers_)
    if (!worker.retiring) worker.outdated = true;
  handover_ = Handover{cause, Clock::now() + milliseconds(settings_.start_timeout_ms), std::move(previous_settings),
                       std::move(previous_identity)};
  quick_deaths_ = 0;
  next_start_ = {};
  start_missing_workers();
}

int ProcessMaster::ready_new_workers() const {
  return static_cast<int>(std::count_if(workers_.begin(), workers_.end(),
                                        [](const Worker& w) { return !w.retiring && !w.outdated && w.ready; }));
}

void ProcessMaster::finish_handover() {
  int stopping = 0;
  for (Worker& worker : workers_)
    if (worker.outdated && !worker.retiring) {
      retire(worker);
      ++stopping;
    }
  if (handover_->cause == Handover::Cause::kUpgrade)
    spdlog::info(
        "master: upgraded in place to {} (pid {}): {} workers ready, {} of the previous binary finish their "
        "requests and stop",
        upgrade_path(), master_pid_, active_workers(), stopping);
  else
    spdlog::info("master: reloaded: {} new workers ready with {} threads; {} old ones finish their requests and stop",
                 active_workers(), settings_.threads, stopping);
  if (status_ && handover_->cause == Handover::Cause::kReload) status_->notify_ready();  // status hook
  handover_.reset();
}

/// The new workers stop; the previous ones are the pool again. A reload goes back to the
/// previous settings; after an upgrade this image stays (see docs/upgrade.md).
void ProcessMaster::fail_handover(const std::string& why) {
  for (Worker& worker : workers_) {
    if (worker.retiring) continue;
    if (worker.outdated)
      worker.outdated = false;
    else
      retire(worker);
  }
  if (handover_->cause == Handover::Cause::kUpgrade) {
    spdlog::error(
        "master: upgrade failed after exec, the previous workers keep serving: {}; the new workers are stopped, and "
        "this master starts workers of {} only to replace those that end (to go back: put the previous binary back "
        "and send SIGUSR2)",
        why, upgrade_path());
  } else {
    settings_ = std::move(handover_->previous_settings);
    identity_ = std::move(handover_->previous_identity);
    spdlog::error("master: reload failed, the previous workers keep serving with the previous settings: {}", why);
    if (status_) status_->notify_ready();  // status hook: serving as before
  }
  handover_.reset();
  retire_surplus();
}

/// Safety net: never more than `processes` workers serving (the newest ones go).
void ProcessMaster::retire_surplus() {
  int surplus = active_workers() - settings_.processes;
  for (auto worker = workers_.rbegin(); worker != workers_.rend() && surplus > 0; ++worker) {
    if (worker->retiring || worker->outdated) continue;
    spdlog::warn("master: {} workers serve, {} wanted: worker {} stops", active_workers(), settings_.processes,
                 worker->pid);
    retire(*worker);
    --surplus;
  }
}

void ProcessMaster::check_handover_deadline() {
  if (!handover_ || Clock::now() < handover_->deadline) return;
  fail_handover(fmt::format("{} of {} new workers ready after start_timeout ({} s)", ready_new_workers(),
                            settings_.processes, settings_.start_timeout_ms / 1000));
}

void ProcessMaster::reopen_logs() {
  request_log_reopen();
  spdlog::info("master: log file reopened");
  for (const Worker& worker : workers_) signal_worker(worker.pid, SIGUSR1);
}

void ProcessMaster::kill_overdue() {
  const auto now = Clock::now();
  for (Worker& worker : workers_) {
    if (!worker.kill_at || *worker.kill_at > now) continue;
    spdlog::warn("master: worker {} still running after it was told to stop: SIGKILL", worker.pid);
    ::kill(worker.pid, SIGKILL);
    worker.kill_at.reset();
    killed_any_ = true;
  }
}

int ProcessMaster::wait_for_signal(siginfo_t& info) const {
  const auto now = Clock::now();
  auto until = now + kIdleWake;
  if (!stopping_ && active_workers() < settings_.processes) until = std::min(until, next_start_);
  for (const Worker& worker : workers_)
    if (worker.kill_at) until = std::min(until, *worker.kill_at);
  if (handover_) until = std::min(until, handover_->deadline);
  const auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(std::max(until - now, Clock::duration(0)));
  const timespec timeout{static_cast<time_t>(wait.count() / 1'000'000'000),
                         static_cast<long>(wait.count() % 1'000'000'000)};
  const sigset_t set = master_signals();
  const int signal_number = ::sigtimedwait(&set, &info, &timeout);
  return signal_number > 0 ? signal_number : 0;
}

void ProcessMaster::stop_listening() {
  if (status_) status_->forget_listener();  // status hook: its thread samples this socket's queue
  if (opened_)
    opened_->close_and_remove();
  else
    ::close(listen_fd_);  // the supervisor keeps its own descriptor: the socket stays usable for the next process
}

/// After exec_new_binary: the previous image's workers are still this process's children.
/// They serve on while this image starts its own generation, as in a reload.
void ProcessMaster::adopt_previous_workers() {
  const std::vector<pid_t> previous = take_adopted_workers();
  if (previous.empty()) return;
  int adopted = 0;
  for (const pid_t pid : previous) {
    siginfo_t info{};
    // Only a live child of ours (waitid without reaping; si_pid stays 0 while it runs): an
    // exited one is reaped by the SIGCHLD still pending, and must not count as serving.
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != 0) continue;
    workers_.push_back(Worker{pid, Clock::now(), false, std::nullopt, false, true});
    ++adopted;
  }
  spdlog::info(
      "master: running {} (pid {}): starting {} workers; the {} of the previous binary serve until they are "
      "ready",
      upgrade_path(), master_pid_, settings_.processes, adopted);
  begin_handover(Handover::Cause::kUpgrade, settings_, identity_);
}

/// SIGUSR2: the new binary is tried in a child; only if it starts is it exec()ed here.
void ProcessMaster::upgrade() {
  if (upgrade_.fd < 0) {
    spdlog::warn("master: upgrade refused, the running workers stay: no listener to hand over");
    return;
  }
  if (handover_) {
    spdlog::warn(
        "master: upgrade refused: a reload/upgrade is still being handed over; send SIGUSR2 again when it is done");
    return;
  }
  spdlog::info("master: SIGUSR2: trying {} before upgrading to it", upgrade_path());
  std::string version;
  const std::string why = try_new_binary(upgrade_, version, milliseconds(settings_.start_timeout_ms));
  if (!why.empty()) {
    spdlog::error("master: upgrade refused, the running workers stay: {}", why);
    return;
  }
  std::vector<pid_t> pids;
  for (const Worker& worker : workers_) pids.push_back(worker.pid);
  spdlog::info("master: upgrading in place to {} ({}); {} workers keep serving until the new ones are ready",
               upgrade_path(), version, pids.size());
  if (status_) status_->notify_reloading();  // status hook
  spdlog::default_logger()->flush();
  // exec() ends the status thread and closes its listener; the new image opens its own.
  const std::string failed = exec_new_binary(upgrade_, pids, retire_channel_.ends());
  spdlog::error("master: upgrade refused, the running workers stay: exec {}: {}", upgrade_path(), failed);
  if (status_) status_->notify_ready();  // status hook
}

int ProcessMaster::stop(int signal_number) {
  stopping_ = true;
  if (status_) status_->notify_stopping();  // status hook
  stop_listening();                         // new connections are refused now, not queued for workers that stop
  spdlog::info("master: {}: stopping {} workers, waiting up to {} ms for requests in flight",
               signal_name(signal_number), workers_.size(), settings_.shutdown_timeout_ms);
  const auto deadline = Clock::now() + milliseconds(settings_.shutdown_timeout_ms) + kKillGrace;
  for (Worker& worker : workers_) {
    signal_worker(worker.pid, SIGTERM);
    worker.kill_at = worker.kill_at ? std::min(*worker.kill_at, deadline) : deadline;
  }
  while (!workers_.empty()) {
    siginfo_t info{};
    const int next = wait_for_signal(info);
    if (next == SIGCHLD) reap_workers();
    if (next == SIGTERM || next == SIGINT) {
      spdlog::warn("master: {} again: killing the workers now", signal_name(next));
      for (Worker& worker : workers_) worker.kill_at = Clock::now();
    }
    kill_overdue();
  }
  spdlog::info("master: stopped");
  return killed_any_ ? 1 : 0;
}

}  // namespace

int run_master(const Registry& registry, MasterSetup setup) {
  const sigset_t set = master_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before the channel can raise its signal (default: terminate)
  return ProcessMaster(registry, std::move(setup)).run();
}

}  // namespace cppapi
