// SPDX-License-Identifier: MIT
// The binary upgrade of a master (SIGUSR2): a trial of the new file in a child first,
// then exec() in place. The trial runs before anything changes, so whatever makes the
// new binary fail to start leaves the old one serving; exec() keeps the PID (systemd's
// MAINPID, the workers' parent) and, with FD_CLOEXEC cleared, the listening socket.
#include "process/upgrade.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "process/exit_status.hpp"

extern char** environ;

namespace cppapi {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kCheckTimeout = std::chrono::milliseconds(10000);  // --version; the trial: start_timeout + this

constexpr const char* kInheritedFd = "CPPAPI_INHERITED_FD";
constexpr const char* kInheritedListen = "CPPAPI_INHERITED_LISTEN";
constexpr const char* kAdoptedWorkers = "CPPAPI_UPGRADE_WORKERS";
constexpr const char* kTrial = "CPPAPI_UPGRADE_TRIAL";
constexpr const char* kRetireFd = "CPPAPI_RETIRE_FD";

std::vector<std::string> saved_argv;
std::string saved_path;

std::string errno_text() { return std::strerror(errno); }

std::string absolute(const std::string& name) {
  if (name.empty()) return name;
  if (name.front() == '/') return name;
  if (name.find('/') != std::string::npos) {
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd)) return std::string(cwd) + "/" + name;
    return name;
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  for (std::size_t start = 0; start <= dirs.size();) {
    const std::size_t end = std::min(dirs.find(':', start), dirs.size());
    const std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (candidate.front() == '/' && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  char self[4096];
  const ssize_t length = ::readlink("/proc/self/exe", self, sizeof self - 1);
  return length > 0 ? std::string(self, static_cast<std::size_t>(length)) : name;
}

/// The environment of this process, without the upgrade entries, plus `extra`.
std::vector<std::string> environment_with(const std::vector<std::string>& extra) {
  std::vector<std::string> out;
  for (char** entry = environ; *entry; ++entry) {
    const std::string text = *entry;
    const std::string name = text.substr(0, text.find('='));
    if (name == kInheritedFd || name == kInheritedListen || name == kAdoptedWorkers || name == kTrial ||
        name == kRetireFd || name == "LISTEN_PID" || name == "LISTEN_FDS" || name == "LISTEN_FDNAMES")
      continue;
    out.push_back(text);
  }
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::vector<std::string> listener_entries(const UpgradeListener& listener) {
  if (listener.socket_activated) return {"LISTEN_FDS=1"};  // LISTEN_PID is the pid that execs
  return {std::string(kInheritedFd) + "=" + std::to_string(listener.fd),
          std::string(kInheritedListen) + "=" + listener.spec};
}

/// Runs `argv` with `env` (a child, `listen_fd` left open for it) and waits for it up to
/// the timeout. Empty when it exited 0; `output` gets what it printed on stdout. An entry
/// "LISTEN_PID=..." in `env` is made to name the child (systemd's rule for LISTEN_FDS).
std::string run_check(const std::string& what, std::vector<std::string> argv, std::vector<std::string> env,
                      int listen_fd, std::string& output, std::chrono::milliseconds timeout = kCheckTimeout) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return what + ": pipe: " + errno_text();
  std::vector<char*> arguments = pointers(argv);
  char* listen_pid = nullptr;
  for (std::string& entry : env)
    if (entry.rfind("LISTEN_PID=", 0) == 0) {
      entry.resize(std::strlen("LISTEN_PID=") + 12, '\0');  // room for the digits
      listen_pid = entry.data() + std::strlen("LISTEN_PID=");
    }
  std::vector<char*> environment = pointers(env);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out[0]);
    ::close(out[1]);
    return what + ": fork: " + errno_text();
  }
  if (pid == 0) {
    // Only async-signal-safe calls here: the master may have a status thread.
    ::dup2(out[1], STDOUT_FILENO);
    if (listen_fd >= 0) ::fcntl(listen_fd, F_SETFD, 0);
    if (listen_pid) {
      char digits[12];
      int n = 0;
      for (long value = ::getpid(); value > 0 && n < 11; value /= 10) digits[n++] = static_cast<char>('0' + value % 10);
      int at = 0;
      while (n > 0) listen_pid[at++] = digits[--n];
      listen_pid[at] = '\0';
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(arguments[0], arguments.data(), environment.data());
    ::_exit(127);
  }
  ::close(out[1]);
  const auto deadline = Clock::now() + timeout;
  int status = 0;
  pid_t done = 0;
  while ((done = ::waitpid(pid, &status, WNOHANG)) == 0 && Clock::now() < deadline) {
    pollfd readable{out[0], POLLIN, 0};
    if (::poll(&readable, 1, 20) > 0) {
      char buffer[512];
      const ssize_t got = ::read(out[0], buffer, sizeof buffer);
      if (got > 0 && output.size() < 4096) output.append(buffer, static_cast<std::size_t>(got));
    }
  }
  if (done == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    ::close(out[0]);
    return what + ": no answer within " + std::to_string(timeout.count() / 1000) + " s";
  }
  char buffer[512];
  ssize_t got;
  while ((got = ::read(out[0], buffer, sizeof buffer)) > 0)
    if (output.size() < 4096) output.append(buffer, static_cast<std::size_t>(got));
  ::close(out[0]);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) return what + ": cannot be run (exit status 127)";
  return what + ": " + describe_exit(status);
}

}  // namespace

void remember_invocation(int argc, char** argv) {
  saved_argv.assign(argv, argv + argc);
  saved_path = absolute(argc > 0 ? argv[0] : "");
}

const std::string& upgrade_path() { return saved_path; }

std::string try_new_binary(const UpgradeListener& listener, std::string& version,
                           std::chrono::milliseconds start_timeout) {
  const std::string& path = saved_path;
  if (path.empty()) return "the path this process was started from is unknown";
  if (::access(path.c_str(), F_OK) != 0) return path + ": " + errno_text();
  if (::access(path.c_str(), X_OK) != 0) return path + ": not executable: " + errno_text();
  std::string output;
  std::string why = run_check(path + " --version", {path, "--version"}, environment_with({}), -1, output);
  if (!why.empty()) return why;
  version = output.substr(0, output.find('\n'));
  std::vector<std::string> argv = saved_argv;
  argv.front() = path;
  std::vector<std::string> extra = listener_entries(listener);
  extra.push_back(std::string(kTrial) + "=1");
  if (listener.socket_activated) extra.push_back("LISTEN_PID=0");
  std::string ignored;
  return run_check(path + " (a trial start as this master was started)", argv, environment_with(extra), listener.fd,
                   ignored, start_timeout + kCheckTimeout);
}

std::string exec_new_binary(const UpgradeListener& listener, const std::vector<pid_t>& workers,
                            std::pair<int, int> retire_channel) {
  std::string pids;
  for (const pid_t pid : workers) pids += (pids.empty() ? "" : ",") + std::to_string(pid);
  std::vector<std::string> extra = listener_entries(listener);
  extra.push_back(std::string(kAdoptedWorkers) + "=" + pids);
  if (retire_channel.first >= 0 && retire_channel.second >= 0)
    extra.push_back(std::string(kRetireFd) + "=" + std::to_string(retire_channel.first) + "," +
                    std::to_string(retire_channel.second));
  if (listener.socket_activated) extra.push_back("LISTEN_PID=" + std::to_string(::getpid()));
  std::vector<std::string> env = environment_with(extra);
  std::vector<std::string> argv = saved_argv;
  argv.front() = saved_path;
  std::vector<char*> arguments = pointers(argv);
  std::vector<char*> environment = pointers(env);
  // Nothing else of this image crosses exec(): the log file, the status listener, the
  // scoreboard. Then the listener and the retire channel alone are kept open: the previous
  // workers write their notices to that pipe, which the new image reads on.
  ::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
  const int kept[] = {listener.fd, retire_channel.first, retire_channel.second};
  for (const int fd : kept)
    if (fd >= 0) ::fcntl(fd, F_SETFD, 0);
  ::execve(arguments[0], arguments.data(), environment.data());
  const std::string why = errno_text();
  for (const int fd : kept)
    if (fd >= 0) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return why;
}

bool upgrade_trial() {
  const char* trial = std::getenv(kTrial);
  return trial && std::string(trial) == "1";
}

std::optional<UpgradeListener> take_inherited_listener() {
  const char* fd = std::getenv(kInheritedFd);
  const char* spec = std::getenv(kInheritedListen);
  std::optional<UpgradeListener> found;
  if (fd && spec) found = UpgradeListener{std::atoi(fd), spec, false};
  ::unsetenv(kInheritedFd);
  ::unsetenv(kInheritedListen);
  return found;
}

std::vector<pid_t> take_adopted_workers() {
  std::vector<pid_t> out;
  if (const char* list = std::getenv(kAdoptedWorkers)) {
    const std::string text = list;
    for (std::size_t start = 0; start < text.size();) {
      const std::size_t end = std::min(text.find(',', start), text.size());
      const long pid = std::atol(text.substr(start, end - start).c_str());
      if (pid > 0) out.push_back(static_cast<pid_t>(pid));
      start = end + 1;
    }
  }
  ::unsetenv(kAdoptedWorkers);
  return out;
}

std::pair<int, int> take_inherited_retire_channel() {
  std::pair<int, int> ends{-1, -1};
  if (const char* text = std::getenv(kRetireFd)) {
    const std::string value = text;
    const std::size_t comma = value.find(',');
    if (comma != std::string::npos)
      ends = {std::atoi(value.substr(0, comma).c_str()), std::atoi(value.substr(comma + 1).c_str())};
  }
  ::unsetenv(kRetireFd);
  return ends;
}

}  // namespace cppapi
