// SPDX-License-Identifier: MIT
#include "process/upgrade_trial.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>

#include <spdlog/spdlog.h>

#include "process/exit_status.hpp"
#include "process/privileges.hpp"
#include "process/retire_channel.hpp"
#include "process/worker.hpp"

namespace cppapi {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kPoll{10};
constexpr milliseconds kStopGrace{5000};

/// A listening unix socket only this process's user can reach: a path socket in a fresh
/// 0700 directory (mkdtemp), both removed as soon as the socket listens (the worker only
/// needs the fd; nobody can connect to it then). Never an abstract socket: those have no
/// permission checks, any local user could send requests to the new binary's worker.
int private_listener() {
  const auto fail = [](const std::string& what) {
    return std::runtime_error("upgrade trial: private socket: " + what + ": " + std::strerror(errno));
  };
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp && *tmp == '/' && std::strlen(tmp) < 64 ? tmp : "/tmp") + "/cppapi-trial.XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) throw fail("mkdtemp " + dir);  // mode 0700, owned by this process's user
  const std::string path = dir + "/s";  // TMPDIR is at most 63 characters: it fits in sun_path
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), std::min(path.size(), sizeof address.sun_path - 1));
  const bool ok =
      fd >= 0 && ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 && ::listen(fd, 1) == 0;
  const int saved = errno;
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
  errno = saved;
  if (!ok) {
    if (fd >= 0) ::close(fd);
    throw fail(path);
  }
  return fd;
}

[[noreturn]] void run_child(const Settings& settings, const Registry& registry, const WorkerIdentity& identity,
                            RetireChannel& channel, int listen_fd, int production_fd, pid_t parent) {
  int status = 1;
  try {
    channel.close_master_end();
    if (production_fd >= 0 && production_fd != listen_fd) ::close(production_fd);  // the running master's socket
    if (identity.account) drop_privileges(*identity.account, identity.gid);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the trial killed by its timeout: this goes too
    if (::getppid() != parent) ::_exit(1);
    status = run_worker(settings, registry, listen_fd, WorkerLinks{channel.worker_end(), {}});
  } catch (const std::exception& error) {
    spdlog::error("upgrade trial: worker failed: {}", error.what());
  }
  spdlog::shutdown();
  ::_exit(status);
}

bool said_ready(RetireChannel& channel, pid_t pid) {
  const auto notices = channel.drain();
  return std::any_of(notices.begin(), notices.end(), [pid](const WorkerNotice& notice) {
    return notice.pid == pid && notice.kind == WorkerNotice::Kind::kReady;
  });
}

/// Stops the worker (SIGTERM to its main thread, SIGKILL after a grace) and reaps it.
void stop_worker(pid_t pid) {
  ::syscall(SYS_tgkill, pid, pid, SIGTERM);
  const auto deadline = Clock::now() + kStopGrace;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return;
    }
    std::this_thread::sleep_for(kPoll);
  }
}

}  // namespace

int run_trial_worker(const Settings& settings, const Registry& registry, const WorkerIdentity& identity,
                     int production_fd) {
  sigset_t notice_signals;
  sigemptyset(&notice_signals);
  sigaddset(&notice_signals, retire_notice_signal());
  sigaddset(&notice_signals, SIGIO);
  pthread_sigmask(SIG_BLOCK, &notice_signals, nullptr);  // the channel raises them; we poll it instead
  RetireChannel channel;
  const int listen_fd = private_listener();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("upgrade trial: fork: ") + std::strerror(errno));
  if (pid == 0) run_child(settings, registry, identity, channel, listen_fd, production_fd, parent);
  ::close(listen_fd);

  const auto deadline = Clock::now() + milliseconds(settings.start_timeout_ms);
  int status = 0;
  while (Clock::now() < deadline) {
    if (said_ready(channel, pid)) {
      stop_worker(pid);
      return 0;
    }
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      spdlog::error("upgrade trial: the new binary's worker {} before it was ready", describe_exit(status));
      return 1;
    }
    std::this_thread::sleep_for(kPoll);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  spdlog::error("upgrade trial: the new binary's worker was not ready within start_timeout ({} s)",
                settings.start_timeout_ms / 1000);
  return 1;
}

}  // namespace cppapi
