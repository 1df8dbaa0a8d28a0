// SPDX-License-Identifier: MIT
#include "harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <gtest/gtest.h>

extern char** environ;

namespace cppapi::test {
namespace {

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

bool current_test_failed() {
  const auto& unit = *::testing::UnitTest::GetInstance();
  if (const auto* test = unit.current_test_info()) return test->result()->Failed();
  if (const auto* suite = unit.current_test_suite()) return suite->Failed();
  return unit.Failed();
}

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  return address;
}

std::string last_lines(const std::string& text, std::size_t count) {
  std::size_t at = text.size();
  while (count-- > 0 && at > 0) at = text.rfind('\n', at - 1);
  return at == std::string::npos || at == 0 ? text : text.substr(at + 1);
}

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return std::string(text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1));
}

}  // namespace

// ---- temp dir, ports, waiting, files

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/cppapi-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw_errno("mkdtemp " + pattern);
  path_ = pattern;
}

TempDir::~TempDir() {
  if (current_test_failed()) {
    std::cerr << "kept for inspection: " << path_.string() << '\n';
    return;
  }
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

int free_port() {
  const Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw_errno("socket");
  sockaddr_in address = loopback(0);
  socklen_t size = sizeof address;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), size) != 0) throw_errno("bind 127.0.0.1:0");
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &size) != 0) throw_errno("getsockname");
  return ntohs(address.sin_port);
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

bool can_connect_unix(const fs::path& socket) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string& path = socket.native();
  if (path.size() >= sizeof address.sun_path) return false;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  const Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  return fd.get() >= 0 && ::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
}

bool can_connect_tcp(int port) {
  const sockaddr_in address = loopback(port);
  const Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  return fd.get() >= 0 && ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
}

bool wait_for_unix_socket(const fs::path& socket, std::chrono::milliseconds timeout) {
  return wait_until([&] { return can_connect_unix(socket); }, timeout);
}

bool wait_for_tcp(int port, std::chrono::milliseconds timeout) {
  return wait_until([&] { return can_connect_tcp(port); }, timeout);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return std::move(content).str();
}

void write_file(const fs::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
}

std::string render(std::string_view template_text, const std::map<std::string, std::string>& values) {
  std::string text(template_text);
  for (const auto& [name, value] : values) {
    const std::string placeholder = '@' + name + '@';
    for (auto at = text.find(placeholder); at != std::string::npos; at = text.find(placeholder, at + value.size()))
      text.replace(at, placeholder.size(), value);
  }
  for (auto at = text.find('@'); at != std::string::npos; at = text.find('@', at + 1)) {
    const auto end = text.find('@', at + 1);
    const auto name = std::string_view(text).substr(at + 1, end == std::string::npos ? 0 : end - at - 1);
    if (!name.empty() && std::all_of(name.begin(), name.end(), [](char c) { return std::isupper(c) || c == '_'; }))
      throw std::invalid_argument("template placeholder without a value: @" + std::string(name) + "@");
  }
  return text;
}

std::vector<std::string> grep_lines(std::string_view log, const std::vector<std::string_view>& needles) {
  std::vector<std::string> found;
  std::istringstream lines{std::string(log)};
  for (std::string line; std::getline(lines, line);) {
    if (std::any_of(needles.begin(), needles.end(), [&](auto needle) { return line.find(needle) != line.npos; }))
      found.push_back(line);
  }
  return found;
}

// ---- processes

std::ostream& operator<<(std::ostream& out, const ExitStatus& status) {
  if (status.signal != 0) return out << "killed by signal " << status.signal << " (" << strsignal(status.signal) << ')';
  return out << "exit code " << status.code;
}

Process::Process(std::vector<std::string> argv, fs::path log_file, Options options) : log_file_(std::move(log_file)) {
  // Everything the child needs is prepared before fork(): between fork and exec only
  // async-signal-safe calls are allowed, and libcurl may have started threads.
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) env.emplace_back(*entry);
  for (const auto& setting : options.env) {
    const auto name = setting.substr(0, setting.find('=') + 1);
    std::erase_if(env, [&](const std::string& e) { return e.starts_with(name); });
    env.push_back(setting);
  }
  std::vector<char*> argv_ptrs, env_ptrs;
  for (auto& arg : argv) argv_ptrs.push_back(arg.data());
  for (auto& entry : env) env_ptrs.push_back(entry.data());
  argv_ptrs.push_back(nullptr);
  env_ptrs.push_back(nullptr);

  const Fd log(::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (log.get() < 0) throw_errno("open " + log_file_.string());
  const Fd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null.get() < 0) throw_errno("open /dev/null");
  int exec_error[2];  // the child writes errno here if exec fails; closed by a successful exec
  if (::pipe2(exec_error, O_CLOEXEC) != 0) throw_errno("pipe2");
  const Fd error_read(exec_error[0]);
  Fd error_write(exec_error[1]);
  const pid_t parent = ::getpid();

  pid_ = ::fork();
  if (pid_ < 0) throw_errno("fork");
  if (pid_ == 0) {
    ::setpgid(0, 0);  // own group: a SIGKILL reaches nginx's workers too, and the tty's ^C does not
    // If the test runner dies (crash, ctest timeout), the servers go with it instead of
    // holding ports and sockets. Fires when the forking *thread* exits: fork from the main thread.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);  // an ignored signal stays ignored across exec
    if (::dup2(null.get(), 0) < 0 || ::dup2(log.get(), 1) < 0 || ::dup2(log.get(), 2) < 0 ||
        (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0)) {
      const int error = errno;
      (void)!::write(error_write.get(), &error, sizeof error);
      ::_exit(127);
    }
    ::execve(argv_ptrs[0], argv_ptrs.data(), env_ptrs.data());
    const int error = errno;
    (void)!::write(error_write.get(), &error, sizeof error);
    ::_exit(127);
  }
  ::setpgid(pid_, pid_);  // also from here, so stop() never races the child's own setpgid
  error_write.close();    // so that read() sees EOF once exec has closed the child's copy
  int error = 0;
  ssize_t got;
  do got = ::read(error_read.get(), &error, sizeof error);
  while (got < 0 && errno == EINTR);
  if (got > 0) {
    wait_exit(10s);
    pid_ = -1;
    throw std::system_error(error, std::generic_category(), "cannot run " + argv.front());
  }
}

Process::Process(Process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), log_file_(std::move(other.log_file_)), exit_(other.exit_) {}

Process::~Process() {
  if (pid_ > 0) stop();
}

bool Process::running() {
  if (pid_ <= 0 || exit_) return false;
  int status = 0;
  pid_t got;
  do got = ::waitpid(pid_, &status, WNOHANG);
  while (got < 0 && errno == EINTR);
  if (got == 0) return true;
  if (got == pid_)
    exit_ = WIFSIGNALED(status) ? ExitStatus{-1, WTERMSIG(status)} : ExitStatus{WEXITSTATUS(status), 0};
  else
    exit_ = ExitStatus{};  // not our child any more (should not happen): never signal that PID
  return false;
}

void Process::signal(int sig) {
  if (running()) ::kill(pid_, sig);  // running() reaps: a reaped PID may belong to someone else
}

std::optional<ExitStatus> Process::wait_exit(std::chrono::milliseconds timeout) {
  wait_until([this] { return !running(); }, timeout);
  return exit_;
}

ExitStatus Process::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return ExitStatus{};  // moved from: kill(-pid_) must never see -1 or 0
  signal(SIGTERM);
  if (!wait_exit(grace)) {
    std::cerr << "pid " << pid_ << " still running " << grace.count() << " ms after SIGTERM: SIGKILL\n";
    ::kill(-pid_, SIGKILL);
    wait_exit(10s);
  }
  return exit_.value_or(ExitStatus{});
}

// ---- cppapi

fs::path cppapi_binary() {
  if (const char* bin = std::getenv("CPPAPI_BIN"); bin && *bin) return bin;
#ifdef CPPAPI_BIN_DEFAULT
  return CPPAPI_BIN_DEFAULT;
#else
  throw std::runtime_error("set CPPAPI_BIN to the cppapi binary under test");
#endif
}

fs::path source_dir() {
  if (const char* dir = std::getenv("CPPAPI_SOURCE_DIR"); dir && *dir) return dir;
#ifdef CPPAPI_SOURCE_DIR
  return CPPAPI_SOURCE_DIR;
#else
  throw std::runtime_error("set CPPAPI_SOURCE_DIR to the cppapi repository");
#endif
}

namespace {

constexpr auto kOpenToAll = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec;

// A copy of `source` at <dir>/<name> that every user can read: `dir`, the copy and directories
// in it 0755, files in a copied directory 0644. Tests only, for servers whose children run as
// www-data (mkdtemp made `dir` 0700; the build tree may be in root's home).
fs::path copy_open_to_all(const TempDir& dir, const fs::path& source, const std::string& name) {
  constexpr auto kFile =
      fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read;
  const fs::path copy = dir / name;
  if (!fs::exists(copy)) fs::copy(source, copy, fs::copy_options::recursive);
  fs::permissions(dir.path(), kOpenToAll);
  if (fs::is_directory(copy)) {
    for (const auto& entry : fs::recursive_directory_iterator(copy))
      fs::permissions(entry.path(), entry.is_directory() ? kOpenToAll : kFile);
  }
  fs::permissions(copy, kOpenToAll);
  return copy;
}

}  // namespace

fs::path cppapi_binary_for_other_users(const TempDir& dir) {
  if (::geteuid() != 0) return cppapi_binary();
  fs::create_directories(dir / "bin");
  fs::permissions(dir / "bin", kOpenToAll);
  return copy_open_to_all(dir, cppapi_binary(), "bin/cppapi");
}

fs::path www_for_other_users(const TempDir& dir) {
  if (::geteuid() != 0) return source_dir() / "www";
  return copy_open_to_all(dir, source_dir() / "www", "www");
}

namespace {

std::vector<std::string> serve_argv(const fs::path& socket, const CppapiServer::Options& options) {
  const std::string listen =
      options.tcp_port > 0 ? "127.0.0.1:" + std::to_string(options.tcp_port) : "unix:" + socket.string();
  std::vector<std::string> argv{cppapi_binary(), "serve",     "--listen",
                                listen,          "--threads", std::to_string(options.threads)};
  // Run as root (CI), cppapi refuses to serve without being told which user to become.
  const bool user_given =
      std::find(options.extra_args.begin(), options.extra_args.end(), "--user") != options.extra_args.end();
  if (::geteuid() == 0 && !user_given) argv.insert(argv.end(), {"--user", "root"});
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
  return argv;
}

// Waits until `ready` or until `process` exits; throws with the end of `log` if not ready.
void await_start(const std::string& what, Process& process, const std::function<bool()>& ready,
                 const std::function<std::string()>& log) {
  if (wait_until([&] { return ready() || !process.running(); }) && process.running()) return;
  std::ostringstream message;
  message << what << ' ';
  if (auto status = process.wait_exit(0ms))
    message << "exited during startup (" << *status << ")";
  else
    message << "did not become ready within 10 s";
  message << "; last log lines:\n" << last_lines(log(), 30);
  throw std::runtime_error(message.str());
}

}  // namespace

CppapiServer::CppapiServer(const TempDir& dir) : CppapiServer(dir, Options{}) {}

CppapiServer::CppapiServer(const TempDir& dir, Options options)
    : socket_(dir / "cppapi.sock"),
      process_(serve_argv(socket_, options), dir / "cppapi.log", {std::move(options.env), dir.path()}) {
  const int tcp_port = options.tcp_port;
  await_start(
      "cppapi", process_, [&] { return tcp_port > 0 ? can_connect_tcp(tcp_port) : can_connect_unix(socket_); },
      [&] { return log(); });
}

std::vector<std::string> crash_lines(std::string_view log, const std::vector<std::string>& expected) {
  auto lines = grep_lines(
      log, {"AddressSanitizer", "LeakSanitizer", "ThreadSanitizer", "runtime error:", "terminate called",
            "killed by SIGSEGV", "killed by SIGABRT", "killed by SIGBUS", "killed by SIGFPE", "killed by SIGILL"});
  std::erase_if(lines, [&](const std::string& line) {
    return std::any_of(expected.begin(), expected.end(),
                       [&](const std::string& e) { return line.find(e) != std::string::npos; });
  });
  return lines;
}

std::vector<std::string> exit_problems(std::string_view what, const ExitStatus& status, std::string_view log,
                                       const ExitStatus& expected_status,
                                       const std::vector<std::string>& expected_lines) {
  std::vector<std::string> problems;
  if (status != expected_status) {
    std::ostringstream out;
    out << what << " ended with " << status << ", expected " << expected_status;
    problems.push_back(out.str());
  }
  for (const auto& line : crash_lines(log, expected_lines)) problems.push_back(std::string(what) + " log: " + line);
  if (auto problem = engine_problem(log); !problem.empty()) problems.push_back(std::string(what) + ": " + problem);
  return problems;
}

std::string expected_engine() {
  const char* engine = std::getenv("CPPAPI_ENGINE");
  return engine && *engine ? engine : "event";
}

std::string engine_problem(std::string_view log) {
  const std::string said = "; engine: " + expected_engine();
  std::size_t at = 0;
  for (int lines = 0; lines < 1000 && (at = log.find("cppapi: serving ", at)) != std::string::npos; ++lines) {
    const std::size_t end = std::min(log.find('\n', at), log.size());
    if (log.substr(at, end - at).find(said) == std::string_view::npos)
      return "served with another engine than " + expected_engine() + ": " + std::string(log.substr(at, end - at));
    at = end;
  }
  return {};
}

ExitStatus expect_clean_stop(Process& cppapi, std::string_view what, const std::vector<std::string>& expected_lines) {
  const ExitStatus status = cppapi.stop();
  const std::string log = cppapi.log();
  const auto problems = exit_problems(what, status, log, {0, 0}, expected_lines);
  for (const auto& problem : problems) ADD_FAILURE() << problem;
  if (!problems.empty()) std::cerr << "--- " << what << " log (end):\n" << last_lines(log, 40) << "\n";
  return status;
}

ExitStatus CppapiServer::stop_and_check(const std::vector<std::string>& expected_lines) {
  return expect_clean_stop(process_, "cppapi", expected_lines);
}

void expect_no_crash_lines(std::string_view what, std::string_view log,
                           const std::vector<std::string>& expected_lines) {
  for (const auto& line : crash_lines(log, expected_lines)) ADD_FAILURE() << what << " log: " << line;
  if (auto problem = engine_problem(log); !problem.empty()) ADD_FAILURE() << what << ": " << problem;
}

NotifyReceiver::NotifyReceiver(const fs::path& path) {
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  path.string().copy(address.sun_path, sizeof address.sun_path - 1);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) throw std::runtime_error("bind");
  timeval timeout{0, 100'000};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
}

NotifyReceiver::~NotifyReceiver() { ::close(fd_); }

std::optional<std::string> NotifyReceiver::wait_for(std::string_view needle, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    for (std::size_t i = seen_; i < messages_.size(); ++i)
      if (messages_[i].find(needle) != std::string::npos) {
        seen_ = i + 1;
        return messages_[i];
      }
    char buffer[4096];
    const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
    if (got > 0) messages_.emplace_back(buffer, static_cast<std::size_t>(got));
  }
  return std::nullopt;
}

std::string process_start_time(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  // after "pid (comm)": state is field 3, starttime field 22
  for (int number = 3; number <= 22 && fields >> field; ++number)
    if (number == 22) return field;
  return {};
}

bool same_process_alive(pid_t pid, const std::string& start_time) {
  if (pid <= 0 || start_time.empty() || ::kill(pid, 0) != 0) return false;
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size() || stat[close + 2] == 'Z') return false;
  return process_start_time(pid) == start_time;
}

// ---- nginx

std::vector<std::string> nginx_complaints(std::string_view error_log) {
  return grep_lines(error_log, {"upstream sent more data than specified", "upstream prematurely closed",
                                "upstream sent invalid", "[alert]", "[crit]", "[emerg]"});
}

std::string nginx_api_location(const fs::path& socket) {
  constexpr std::string_view kShippedSocket = "unix:/run/cppapi/cppapi.sock";
  const fs::path snippet_file = source_dir() / "deploy/nginx/cppapi.conf";
  std::string snippet = read_file(snippet_file);
  const auto at = snippet.find(kShippedSocket);
  if (at == std::string::npos)
    throw std::runtime_error(snippet_file.string() + " does not name " + std::string(kShippedSocket));
  return snippet.replace(at, kShippedSocket.size(), "unix:" + socket.string());
}

std::size_t first_wrong_blob_byte(std::string_view body) {
  for (std::size_t i = 0; i < body.size(); ++i)
    if (static_cast<unsigned char>(body[i]) != i % 251) return i;
  return std::string::npos;
}

std::string nginx_config(std::string_view sites, int worker_connections) {
  return R"(@USER@
daemon off;
master_process on;
worker_processes 1;
error_log @PREFIX@/error.log info;
pid @PREFIX@/nginx.pid;

events {
    worker_connections )" +
         std::to_string(worker_connections) + R"(;
}

http {
    access_log @PREFIX@/access.log;
    client_body_temp_path @PREFIX@/client_body_temp;
    fastcgi_temp_path @PREFIX@/fastcgi_temp;
    proxy_temp_path @PREFIX@/proxy_temp;
    uwsgi_temp_path @PREFIX@/uwsgi_temp;
    scgi_temp_path @PREFIX@/scgi_temp;
)" + std::string(sites) +
         "}\n";
}

const std::string NginxServer::kDefaultConfig = nginx_config(R"(
    server {
        listen 127.0.0.1:@PORT@;
        server_name localhost;
        root "@WWW@";

@API_LOCATION@
    }
)");

namespace {

Process start_nginx(const fs::path& prefix, int port, const fs::path& socket, std::string_view config_template) {
  fs::create_directories(prefix);
  // The shipped snippet says `include fastcgi_params;`, which nginx resolves next to nginx.conf.
  fs::copy_file("/etc/nginx/fastcgi_params", prefix / "fastcgi_params", fs::copy_options::overwrite_existing);
  const std::map<std::string, std::string> values{
      {"PORT", std::to_string(port)},
      {"PREFIX", prefix.string()},
      {"SOCKET", socket.string()},
      // As root, nginx's workers would run as `nobody`, who can neither enter the 0700 temp dir
      // nor connect to the 0660 socket of a root cppapi; loopback-only test servers stay root.
      {"USER", ::geteuid() == 0 ? "user root root;" : ""},
      {"WWW", (source_dir() / "www").string()},
      {"API_LOCATION", nginx_api_location(socket)},
  };
  write_file(prefix / "nginx.conf", render(config_template, values));
  return Process({"/usr/sbin/nginx", "-p", prefix.string() + '/', "-c", (prefix / "nginx.conf").string(), "-e",
                  (prefix / "error.log").string()},
                 prefix / "nginx.log", {{}, prefix});
}

}  // namespace

NginxServer::NginxServer(const TempDir& dir, const fs::path& socket, std::string_view config_template)
    : FrontServerProcess("nginx", dir / "nginx", [&](const fs::path& prefix, int port) {
        return start_nginx(prefix, port, socket, config_template);
      }) {}

// ---- shipped deploy files, TLS

std::string substitute(std::string text, const Substitutions& substitutions, std::string_view what) {
  for (const auto& [from, to] : substitutions) {
    if (from.empty()) throw std::invalid_argument("empty substitution for " + std::string(what));
    auto at = text.find(from);
    if (at == std::string::npos)
      throw std::runtime_error(std::string(what) + " no longer contains \"" + from +
                               "\", which the test replaces: update the test with the file");
    for (; at != std::string::npos; at = text.find(from, at + to.size())) text.replace(at, from.size(), to);
  }
  return text;
}

std::string deploy_file(std::string_view relative, const Substitutions& substitutions) {
  const fs::path file = source_dir() / "deploy" / relative;
  if (!fs::is_regular_file(file)) throw std::runtime_error("no such file: " + file.string());
  return substitute(read_file(file), substitutions, file.string());
}

TestCertificate make_test_certificate(const fs::path& dir) {
  fs::create_directories(dir);
  const fs::path script = source_dir() / "deploy/tls/make-self-signed.sh";
  const fs::path log = dir / "make-self-signed.log";
  Process maker({"/bin/bash", script.string(), dir.string(), "localhost", "127.0.0.1", "::1"}, log);
  const auto status = maker.wait_exit(30s);
  if (status != ExitStatus{0, 0}) {
    std::ostringstream message;
    message << script.string() << " failed (";
    if (status)
      message << *status;
    else
      message << "still running after 30 s";
    message << "); output:\n" << read_file(log);
    throw std::runtime_error(message.str());
  }
  TestCertificate certificate{dir / "fullchain.pem", dir / "privkey.pem"};
  if (!fs::is_regular_file(certificate.certificate) || !fs::is_regular_file(certificate.key))
    throw std::runtime_error(script.string() + " made no fullchain.pem/privkey.pem in " + dir.string());
  return certificate;
}

// ---- lighttpd

std::vector<std::string> lighttpd_complaints(std::string_view error_log) {
  // lighttpd logs "(file.c.line) message"; these files speak only when something broke:
  // the FastCGI backend (connect, protocol, early close), the reply headers, or TLS.
  return grep_lines(error_log, {"(gw_backend.c", "(mod_fastcgi.c", "(http-header-glue.c", "(http_chunk.c",
                                "(mod_openssl.c", "(response.c", "(connections.c", "(fdevent"});
}

namespace {

// What Debian 12's /etc/lighttpd/lighttpd.conf sets that changes how /api/ URLs are handled,
// so the shipped snippets are tested the way the package runs them (its strict URL
// normalization in particular). Paths, users and include_shell are left out: the test's own.
constexpr std::string_view kLighttpdBase = R"conf(# lighttpd.conf written by the cppAPI integration tests.
server.modules = ( "mod_indexfile", "mod_access", "mod_alias", "mod_redirect" )
server.document-root = "@WWW@"
server.bind = "127.0.0.1"
server.port = @PORT@
server.errorlog = "@PREFIX@/error.log"
server.pid-file = "@PREFIX@/lighttpd.pid"
server.upload-dirs = ( "@PREFIX@/uploads" )

server.feature-flags += ( "server.h2proto" => "enable" )
server.feature-flags += ( "server.h2c" => "enable" )
server.feature-flags += ( "server.graceful-shutdown-timeout" => 5 )
server.http-parseopts = (
  "header-strict"           => "enable",
  "host-strict"             => "enable",
  "host-normalize"          => "enable",
  "url-normalize-unreserved"=> "enable",
  "url-normalize-required"  => "enable",
  "url-ctrls-reject"        => "enable",
  "url-path-2f-decode"      => "enable",
  "url-path-dotseg-remove"  => "enable",
)
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html; charset=utf-8", ".js" => "text/javascript; charset=utf-8",
                    ".css" => "text/css; charset=utf-8", "" => "application/octet-stream" )

# ---- the configuration under test
)conf";

Process start_lighttpd(const fs::path& prefix, int port, std::string_view config) {
  fs::create_directories(prefix / "uploads");
  const std::map<std::string, std::string> values{
      {"PORT", std::to_string(port)}, {"PREFIX", prefix.string()}, {"WWW", (source_dir() / "www").string()}};
  write_file(prefix / "lighttpd.conf", render(std::string(kLighttpdBase) + std::string(config) + '\n', values));
  // As root, lighttpd stays root (no server.username): loopback-only, and it can reach the
  // 0700 temp dir. Backends it spawns (bin-path) run as root too.
  return Process({"/usr/sbin/lighttpd", "-D", "-f", (prefix / "lighttpd.conf").string()}, prefix / "lighttpd.log",
                 {{}, prefix});
}

// True while a process other than a zombie is in process group `group` (from /proc: a zombie
// whose parent never reaps it must not count).
bool group_alive(pid_t group) {
  std::error_code ignored;
  for (const auto& entry : fs::directory_iterator("/proc", ignored)) {
    // /proc/PID/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces.
    const std::string stat = read_file(entry.path() / "stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size() || stat[close + 2] == 'Z') continue;
    std::istringstream fields(stat.substr(close + 2));
    char state = 0;
    long ppid = 0, pgrp = 0;
    if (fields >> state >> ppid >> pgrp && pgrp == group) return true;
  }
  return false;
}

// Stops a server's leader, then waits for the rest of its process group (workers, spawned
// backends) to end, so that nothing still writes into the temp dir when it is removed;
// SIGKILL to the group for what is left after 10 s.
ExitStatus stop_with_group(Process& process) {
  const pid_t group = process.pid();
  const ExitStatus status = process.stop();
  if (group > 0 && !wait_until([&] { return !group_alive(group); }, 10s)) {
    std::cerr << "process group " << group << " still running 10 s after its leader: SIGKILL\n";
    ::kill(-group, SIGKILL);
    wait_until([&] { return !group_alive(group); }, 2s);
  }
  return status;
}

bool all_ports_accept(int port, const std::vector<int>& extra_ports) {
  return can_connect_tcp(port) && std::all_of(extra_ports.begin(), extra_ports.end(), can_connect_tcp);
}

}  // namespace

FrontServerProcess::FrontServerProcess(std::string_view what, fs::path prefix,
                                       const std::function<Process(const fs::path&, int)>& start,
                                       const std::vector<int>& extra_ports)
    : prefix_(std::move(prefix)), port_(free_port()), process_(start(prefix_, port_)) {
  await_start(
      std::string(what), process_, [&] { return all_ports_accept(port_, extra_ports); },
      [&] { return process_.log() + error_log(); });
}

std::string FrontServerProcess::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

ExitStatus FrontServerProcess::stop() { return stop_with_group(process_); }

LighttpdServer::LighttpdServer(const TempDir& dir, std::string_view config, std::vector<int> extra_ports)
    : FrontServerProcess(
          "lighttpd", dir / "lighttpd",
          [&](const fs::path& prefix, int port) { return start_lighttpd(prefix, port, config); }, extra_ports) {}

// ---- apache

std::vector<std::string> apache_complaints(std::string_view error_log) {
  // Apache's own lines read "[module:level] [pid ...] AHnnnnn: ..."; cppapi's stderr lines
  // (mod_fcgid, mod_cgid) have no "[module:level]" and never match.
  return grep_lines(error_log, {":error]", ":crit]", ":alert]", ":emerg]", "[fcgid:warn]", "[proxy:warn]",
                                "[proxy_fcgi:warn]", "[cgid:warn]", "[cgi:warn]", "[http2:warn]"});
}

namespace {

constexpr std::string_view kApacheBase =
    R"conf(# httpd.conf written by the cppAPI integration tests: self-contained, no /etc/apache2.
ServerRoot "@PREFIX@"
ServerName 127.0.0.1
PidFile "@PREFIX@/httpd.pid"
DefaultRuntimeDir "@PREFIX@/run"
Mutex file:@PREFIX@/run default
@USER@
Listen 127.0.0.1:@PORT@
@LISTEN@
@LOAD_MODULES@
StartServers 1
ServerLimit 2
ThreadsPerChild 25
MaxRequestWorkers 50
MinSpareThreads 5
MaxSpareThreads 50
Timeout 30

ErrorLog "@PREFIX@/error.log"
LogLevel warn
LogFormat "%h \"%r\" %>s %b %D" short
CustomLog "@PREFIX@/access.log" short
TypesConfig /etc/mime.types
DirectoryIndex index.html
DocumentRoot "@WWW@"
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory "@WWW@">
    Require all granted
</Directory>
<IfModule fcgid_module>
    FcgidIPCDir "@PREFIX@/fcgid"
    FcgidProcessTableFile "@PREFIX@/fcgid/table"
</IfModule>
<IfModule cgid_module>
    ScriptSock "@PREFIX@/run/cgid.sock"
</IfModule>
<IfModule ssl_module>
    SSLSessionCache "shmcb:@PREFIX@/run/ssl_scache(512000)"
</IfModule>

# ---- the configuration under test
)conf";

std::string load_modules(std::vector<std::string> modules) {
  const auto has = [&](std::string_view name) {
    return std::find(modules.begin(), modules.end(), name) != modules.end();
  };
  if (has("proxy_fcgi") && !has("proxy"))
    modules.insert(std::find(modules.begin(), modules.end(), "proxy_fcgi"), "proxy");
  if (has("ssl") && !has("socache_shmcb")) modules.push_back("socache_shmcb");  // for SSLSessionCache
  std::vector<std::string> all{"mpm_event", "authz_core", "mime", "alias", "dir", "setenvif"};
  for (auto& module : modules)
    if (std::find(all.begin(), all.end(), module) == all.end()) all.push_back(std::move(module));
  std::string lines;
  for (const auto& module : all) {
    const fs::path file = fs::path("/usr/lib/apache2/modules") / ("mod_" + module + ".so");
    if (!fs::exists(file)) throw std::runtime_error("Apache module not installed: " + file.string());
    lines += "LoadModule " + module + "_module " + file.string() + '\n';
  }
  return lines;
}

Process start_apache(const TempDir& dir, const fs::path& prefix, int port, const ApacheServer::Options& options) {
  fs::create_directories(prefix / "run");
  fs::create_directories(prefix / "fcgid");
  std::string user;
  if (::geteuid() == 0) {
    // Apache will not serve as root (only builds with -DBIG_SECURITY_HOLE do): its children,
    // mod_fcgid's processes, CGI programs and the socket connections of mod_proxy_fcgi run as
    // www-data. For the tests only, let www-data traverse the temp dir (mkdtemp made it 0700)
    // and own the directories those processes write to.
    user = "User www-data\nGroup www-data";
    fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                    fs::perms::others_read | fs::perms::others_exec);
    const passwd* www_data = ::getpwnam("www-data");
    if (www_data == nullptr) throw std::runtime_error("no user www-data for Apache's children");
    for (const auto* sub : {"run", "fcgid"})
      if (::chown((prefix / sub).c_str(), www_data->pw_uid, www_data->pw_gid) != 0)
        throw_errno("chown " + (prefix / sub).string());
  }
  std::string listen;
  for (const int extra : options.extra_ports) listen += "Listen 127.0.0.1:" + std::to_string(extra) + '\n';
  const std::map<std::string, std::string> values{
      {"PORT", std::to_string(port)},
      {"PREFIX", prefix.string()},
      {"WWW", www_for_other_users(dir).string()},
      {"USER", user},
      {"LISTEN", listen},
      {"LOAD_MODULES", load_modules(options.modules)},
  };
  write_file(prefix / "httpd.conf", render(std::string(kApacheBase) + options.config + '\n', values));
  // -DFOREGROUND: the parent stays in front and ends its children on SIGTERM. No -X (one
  // process, no children: not how Apache runs).
  return Process({"/usr/sbin/apache2", "-f", (prefix / "httpd.conf").string(), "-DFOREGROUND"}, prefix / "apache.log",
                 {{"LANG=C"}, prefix});
}

}  // namespace

ApacheServer::ApacheServer(const TempDir& dir, Options options)
    : FrontServerProcess(
          "apache", dir / "apache",
          [&](const fs::path& prefix, int port) { return start_apache(dir, prefix, port, options); },
          options.extra_ports) {}

// ---- HTTP

std::string HttpResponse::header(std::string_view name) const {
  const auto found = headers.find(std::string(name));
  return found == headers.end() ? std::string() : found->second;
}

std::ostream& operator<<(std::ostream& out, const HttpResponse& response) {
  constexpr std::size_t kShown = 300;
  out << "HTTP " << response.status;
  if (response.curl_code != CURLE_OK)
    out << " (curl error " << response.curl_code << ": " << response.curl_error << ')';
  out << '\n';
  for (const auto& [name, value] : response.headers) out << "  " << name << ": " << value << '\n';
  out << "  body (" << response.body.size() << " bytes): " << response.body.substr(0, kShown)
      << (response.body.size() > kShown ? "..." : "");
  return out;
}

namespace {

std::size_t collect_body(char* data, std::size_t size, std::size_t count, void* response) {
  static_cast<HttpResponse*>(response)->body.append(data, size * count);
  return size * count;
}

std::size_t collect_header(char* data, std::size_t size, std::size_t count, void* response) {
  auto& headers = static_cast<HttpResponse*>(response)->headers;
  const std::string_view line(data, size * count);
  if (line.starts_with("HTTP/")) headers.clear();  // a new response head (after 100 Continue)
  if (const auto colon = line.find(':'); colon != line.npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    headers.emplace(std::move(name), trim(line.substr(colon + 1)));
  }
  return size * count;
}

}  // namespace

HttpResponse http(std::string_view method, const std::string& url, std::string_view body,
                  const std::vector<std::string>& headers) {
  return http(method, url, body, headers, HttpOptions{});
}

HttpResponse http(std::string_view method, const std::string& url, std::string_view body,
                  const std::vector<std::string>& headers, const HttpOptions& options) {
  static const CURLcode global_init = curl_global_init(CURL_GLOBAL_DEFAULT);
  HttpResponse response;
  if (global_init != CURLE_OK) {
    response.curl_code = global_init;
    response.curl_error = "curl_global_init failed";
    return response;
  }
  const std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  curl_slist* header_list = curl_slist_append(nullptr, "Expect:");  // no 100-continue pause on bodies
  for (const auto& header : headers) header_list = curl_slist_append(header_list, header.c_str());
  const std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_guard(header_list, curl_slist_free_all);
  char error[CURL_ERROR_SIZE] = {};
  const std::string method_text(method);

  CURL* h = curl.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, options.http_version);
  const std::string ca_file = options.ca_file.string();
  if (ca_file.empty()) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  } else {
    curl_easy_setopt(h, CURLOPT_CAINFO, ca_file.c_str());
    curl_easy_setopt(h, CURLOPT_CAPATH, nullptr);  // the test certificate and nothing else
  }
  curl_easy_setopt(h, CURLOPT_NOPROXY, "*");  // a proxy from the environment must not answer for our servers
  curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10'000L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, header_list);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, collect_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &response);
  if (method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else {
    if (method == "POST" || !body.empty()) {
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    }
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method_text.c_str());
  }

  response.curl_code = curl_easy_perform(h);
  if (response.curl_code != CURLE_OK) response.curl_error = *error ? error : curl_easy_strerror(response.curl_code);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &response.http_version);
  if (const auto found = response.headers.find("content-length"); found != response.headers.end()) {
    std::size_t length = 0;
    const auto& text = found->second;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), length);
    if (ec == std::errc() && end == text.data() + text.size()) response.content_length = length;
  }
  return response;
}

}  // namespace cppapi::test
