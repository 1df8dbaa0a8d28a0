// SPDX-License-Identifier: MIT
// Integration-test harness after nginx-tests: a temp dir per suite, free loopback ports
// picked at run time, real servers started from a config template and stopped by PID,
// logs kept and printed when a test fails.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <curl/curl.h>

namespace cppapi::test {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

/// A fresh directory under $TMPDIR (or /tmp). Removed at destruction, unless the running
/// test (or, outside a test, the running suite) failed: then kept and its path printed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }
  fs::path operator/(std::string_view name) const { return path_ / name; }

 private:
  fs::path path_;
};

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and released).
int free_port();

/// Calls `done` every 10 ms until it returns true (then true) or `timeout` passes (then false).
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s);

bool can_connect_unix(const fs::path& socket);
bool can_connect_tcp(int port);  ///< on 127.0.0.1
bool wait_for_unix_socket(const fs::path& socket, std::chrono::milliseconds timeout = 10s);
bool wait_for_tcp(int port, std::chrono::milliseconds timeout = 10s);

/// The whole file, or "" if it does not exist.
std::string read_file(const fs::path& path);
void write_file(const fs::path& path, std::string_view content);

/// `template_text` with every `@NAME@` replaced by values.at("NAME"); throws on a placeholder left over.
std::string render(std::string_view template_text, const std::map<std::string, std::string>& values);

/// The lines of `log` containing any of `needles`.
std::vector<std::string> grep_lines(std::string_view log, const std::vector<std::string_view>& needles);

/// How a process ended: `code` for exit(), or the `signal` that killed it (code -1).
struct ExitStatus {
  int code = -1;
  int signal = 0;
  bool operator==(const ExitStatus&) const = default;
};
std::ostream& operator<<(std::ostream& out, const ExitStatus& status);

/// A child process in its own process group, stdin /dev/null, stdout+stderr appended to
/// `log_file`. Signalled by PID only, and only until it has been reaped. Stopped on destruction.
class Process {
 public:
  struct Options {
    std::vector<std::string> env;  ///< "NAME=value", added to (or replacing in) the test's environment
    fs::path cwd;                  ///< working directory; empty: the test's
  };

  /// argv[0] is a path (no PATH search). Throws if it cannot be executed.
  Process(std::vector<std::string> argv, fs::path log_file, Options options = {});
  ~Process();
  Process(Process&& other) noexcept;
  Process& operator=(Process&&) = delete;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);
  /// The exit status once it has ended, or nullopt if still running after `timeout`.
  std::optional<ExitStatus> wait_exit(std::chrono::milliseconds timeout);
  /// SIGTERM; after `grace`, SIGKILL to its whole process group. Returns how it ended.
  ExitStatus stop(std::chrono::milliseconds grace = 10s);
  std::string log() const { return read_file(log_file_); }
  const fs::path& log_file() const { return log_file_; }

 private:
  pid_t pid_ = -1;
  fs::path log_file_;
  std::optional<ExitStatus> exit_;
};

/// The cppapi binary under test: $CPPAPI_BIN, else the build's CPPAPI_BIN_DEFAULT.
fs::path cppapi_binary();
/// The repository (for deploy/ and www/): $CPPAPI_SOURCE_DIR, else the build's CPPAPI_SOURCE_DIR.
fs::path source_dir();
/// cppapi_binary() for servers that run it as another user (Apache's children as www-data,
/// spawn-fcgi -u www-data): when the test runs as root, a copy in `dir`, and `dir` opened to
/// everyone (0755), since the build tree may sit in a home directory only root can enter.
/// Otherwise the binary itself.
fs::path cppapi_binary_for_other_users(const TempDir& dir);
/// The repo's www/ likewise: when the test runs as root, a copy in `dir` (opened to everyone).
fs::path www_for_other_users(const TempDir& dir);

/// `cppapi serve --listen unix:<dir>/cppapi.sock --threads T [extra_args]`, log in <dir>/cppapi.log.
/// The constructor returns once the socket accepts connections, and throws if it never does.
class CppapiServer {
 public:
  struct Options {
    int threads = 4;
    std::vector<std::string> extra_args;
    std::vector<std::string> env;
    int tcp_port = 0;  ///< if set: `--listen 127.0.0.1:<tcp_port>` instead of the unix socket
  };

  explicit CppapiServer(const TempDir& dir);
  CppapiServer(const TempDir& dir, Options options);

  const fs::path& socket() const { return socket_; }  ///< unused with Options::tcp_port
  Process& process() { return process_; }
  std::string log() const { return process_.log(); }
  ExitStatus stop() { return process_.stop(); }
  /// expect_clean_stop(process()): SIGTERM, then exit 0 and no crash line, or a test failure.
  ExitStatus stop_and_check(const std::vector<std::string>& expected_lines = {});

 private:
  fs::path socket_;
  Process process_;
};

/// Lines of a cppapi log that only a crash or a sanitizer writes: an ASan, LSan, TSan or
/// UBSan ("runtime error:") report, std::terminate ("terminate called"), or a master's
/// note that a worker died of a fatal signal ("killed by SIGSEGV", SIGABRT, SIGBUS, SIGFPE,
/// SIGILL). Lines holding any of `expected` (a test that crashes a worker on purpose) do not count.
/// A NOTIFY_SOCKET of the test's own: the sd_notify messages a cppapi sends it, in order.
class NotifyReceiver {
 public:
  explicit NotifyReceiver(const fs::path& path);
  ~NotifyReceiver();
  NotifyReceiver(const NotifyReceiver&) = delete;
  NotifyReceiver& operator=(const NotifyReceiver&) = delete;
  /// The next message that contains `needle`, within `timeout`; every message is kept.
  std::optional<std::string> wait_for(std::string_view needle, std::chrono::milliseconds timeout = 10s);
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  int fd_ = -1;
  std::vector<std::string> messages_;
  std::size_t seen_ = 0;
};

std::vector<std::string> crash_lines(std::string_view log, const std::vector<std::string>& expected = {});

/// What is wrong with a stopped cppapi: an exit status other than `expected_status` (ASan's
/// leak report exits 23, a crash ends by a signal), and each crash_lines() of its log. Each
/// problem is one line naming `what`; empty when it stopped clean.
std::vector<std::string> exit_problems(std::string_view what, const ExitStatus& status, std::string_view log,
                                       const ExitStatus& expected_status = {0, 0},
                                       const std::vector<std::string>& expected_lines = {});

/// The FastCGI engine the cppapi processes of this run use: $CPPAPI_ENGINE (cppapi reads
/// it too, as the `engine` setting), else "event". ctest runs some suites once per engine.
std::string expected_engine();
/// Not empty when a "cppapi: serving ..." line of `log` names another engine: a rerun of a
/// suite for one engine that silently ran the other proves nothing. Part of exit_problems()
/// and expect_no_crash_lines().
std::string engine_problem(std::string_view log);

/// The one teardown for a cppapi process (also spawn-fcgi -n, socket-activated, ...): stops
/// it (SIGTERM), then adds a test failure for each exit_problems(), with the end of its log.
/// Returns how it ended.
ExitStatus expect_clean_stop(Process& cppapi, std::string_view what = "cppapi",
                             const std::vector<std::string>& expected_lines = {});
/// The same for a log that is not the process's own (lighttpd bin-path, mod_fcgid: the
/// server stopped cppapi, the file or error log holds what it wrote): the crash lines only.
void expect_no_crash_lines(std::string_view what, std::string_view log,
                           const std::vector<std::string>& expected_lines = {});

/// Whether `pid` runs and is the same process as when `start_time` was read
/// (process_start_time(), field 22 of /proc/PID/stat): not a reused PID, not a zombie.
std::string process_start_time(pid_t pid);
bool same_process_alive(pid_t pid, const std::string& start_time);

/// Complaints in an nginx error log that mean the backend broke the FastCGI/HTTP contract.
std::vector<std::string> nginx_complaints(std::string_view error_log);

/// nginx in the foreground (`-p <dir>/nginx/ -c <dir>/nginx/nginx.conf`) on a free port.
/// The config is a template; placeholders: @PORT@, @PREFIX@ (no trailing slash),
/// @SOCKET@, @USER@ (a `user` line or nothing), @WWW@ (the repo's www/), and
/// @API_LOCATION@ = the shipped deploy/nginx/cppapi.conf pointed at @SOCKET@.
/// Where a body from the test call `test/blob&N` first differs from its pattern (byte i is
/// i % 251); npos when it matches throughout.
std::size_t first_wrong_blob_byte(std::string_view body);

/// A test's nginx.conf: in the foreground, one worker, every file under @PREFIX@ and
/// `sites` (server and upstream blocks) inside http { }.
std::string nginx_config(std::string_view sites, int worker_connections = 64);

/// What the three front servers (nginx, lighttpd, Apache) share: a process in the foreground
/// with its files under <dir>/<name>, its error log there, and a main port on 127.0.0.1.
class FrontServerProcess {
 public:
  int port() const { return port_; }
  /// "http://127.0.0.1:<port>" + path
  std::string url(std::string_view path) const;
  const fs::path& prefix() const { return prefix_; }
  fs::path error_log_file() const { return prefix_ / "error.log"; }
  std::string error_log() const { return read_file(error_log_file()); }
  Process& process() { return process_; }
  /// SIGTERM; returns once the server and every process of its group (nginx workers,
  /// backends spawned by lighttpd or mod_fcgid) are gone, so its logs are complete.
  ExitStatus stop();

 protected:
  /// `start(prefix, port)` starts the server; the constructor then waits until `port` and
  /// every one of `extra_ports` accept, and throws with the end of its logs if they never do.
  FrontServerProcess(std::string_view what, fs::path prefix, const std::function<Process(const fs::path&, int)>& start,
                     const std::vector<int>& extra_ports = {});

 private:
  fs::path prefix_;
  int port_;
  Process process_;
};

class NginxServer : public FrontServerProcess {
 public:
  static const std::string kDefaultConfig;

  NginxServer(const TempDir& dir, const fs::path& socket, std::string_view config_template = kDefaultConfig);
};

/// The shipped nginx `location /api/` snippet with its socket replaced by `socket`.
std::string nginx_api_location(const fs::path& socket);

// ---- shipped deploy files, TLS, lighttpd and apache

/// Literal replacements for a shipped config: each `first` (a path, a port, a line) becomes `second`.
using Substitutions = std::vector<std::pair<std::string, std::string>>;

/// `text` with every occurrence of each `first` replaced by its `second`, in order. Throws
/// std::runtime_error naming `what` if a `first` does not occur: a test must never run a
/// shipped config it failed to adapt (or one that changed under it).
std::string substitute(std::string text, const Substitutions& substitutions, std::string_view what = "text");

/// The shipped file <repo>/deploy/<relative> with `substitutions` applied.
std::string deploy_file(std::string_view relative, const Substitutions& substitutions = {});

/// A self-signed certificate for localhost, 127.0.0.1 and ::1, made at run time by the shipped
/// deploy/tls/make-self-signed.sh (openssl) in `dir`.
struct TestCertificate {
  fs::path certificate;  ///< <dir>/fullchain.pem
  fs::path key;          ///< <dir>/privkey.pem (mode 0600)
};
TestCertificate make_test_certificate(const fs::path& dir);

/// Complaints in a lighttpd error log: the backend or TLS layer misbehaved.
std::vector<std::string> lighttpd_complaints(std::string_view error_log);
/// Complaints in an Apache error log: error level and up, and the FastCGI/CGI modules' warnings.
/// cppapi's own lines (its stderr under mod_fcgid and mod_cgid) do not count.
std::vector<std::string> apache_complaints(std::string_view error_log);

/// lighttpd in the foreground (`lighttpd -D -f <dir>/lighttpd/lighttpd.conf`) on a free port of
/// 127.0.0.1, serving the repo's www/, with the URL parsing options of Debian's lighttpd.conf
/// (what a user of the package runs) and `config` appended, e.g. the shipped
/// deploy/lighttpd/cppapi-*.conf made to point at test paths. Placeholders in `config`:
/// @PORT@, @PREFIX@ (<dir>/lighttpd). `extra_ports` are sockets `config` opens
/// ($SERVER["socket"]); the constructor waits until they all accept.
class LighttpdServer : public FrontServerProcess {
 public:
  LighttpdServer(const TempDir& dir, std::string_view config, std::vector<int> extra_ports = {});
};

/// Apache httpd in the foreground (`apache2 -f <dir>/apache/httpd.conf -DFOREGROUND`) on a free
/// port of 127.0.0.1, from a self-contained httpd.conf: no /etc/apache2 config, no envvars,
/// every file it writes under <dir>/apache; mpm_event, www_for_other_users(dir) as
/// DocumentRoot, and `Options::config` appended.
/// Apache refuses to serve as root, so when the test runs as root its children run as
/// www-data: the constructor then makes `dir` world-readable (0755) and hands the module
/// directories to www-data; a program they run must come from cppapi_binary_for_other_users(),
/// and a unix socket they connect to (mod_proxy_fcgi) needs mode 0666.
class ApacheServer : public FrontServerProcess {
 public:
  struct Options {
    /// Modules beyond the base set (mpm_event, authz_core, mime, alias, dir, setenvif), as
    /// named by their file mod_<name>.so: "fcgid", "proxy", "proxy_fcgi", "cgid", "ssl", ...
    std::vector<std::string> modules;
    /// Appended to httpd.conf. Placeholders: @PORT@, @PREFIX@ (<dir>/apache), @WWW@.
    std::string config;
    /// More `Listen 127.0.0.1:PORT` lines (e.g. for <VirtualHost *:PORT> in `config`), waited for too.
    std::vector<int> extra_ports;
  };

  ApacheServer(const TempDir& dir, Options options);
};

/// One HTTP exchange. Header names are lower-cased.
struct HttpResponse {
  long status = 0;
  std::multimap<std::string, std::string> headers;
  std::string body;
  std::optional<std::size_t> content_length;  ///< parsed from the first Content-Length header
  CURLcode curl_code = CURLE_OK;
  std::string curl_error;
  long http_version = 0;  ///< CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_0, ... (0 if none)

  /// The first value of header `name` (lower case), or "" if absent.
  std::string header(std::string_view name) const;
};
/// Status, curl error, headers and the start of the body, for assertion messages.
std::ostream& operator<<(std::ostream& out, const HttpResponse& response);

/// One request on a fresh connection (HTTP/1.1, no proxy, no reuse, 10 s timeout).
/// HEAD does not wait for a body; `headers` are "Name: value" lines.
/// An https:// URL is not verified (see HttpOptions::ca_file).
HttpResponse http(std::string_view method, const std::string& url, std::string_view body = {},
                  const std::vector<std::string>& headers = {});

struct HttpOptions {
  /// https: trust exactly this certificate (PEM; e.g. TestCertificate::certificate) and check
  /// that it names the URL's host. Empty: no verification at all.
  fs::path ca_file;
  /// CURL_HTTP_VERSION_1_1, or CURL_HTTP_VERSION_2TLS to offer HTTP/2 over TLS (ALPN).
  long http_version = CURL_HTTP_VERSION_1_1;
};
/// http() with options; HttpResponse::http_version tells what was spoken.
HttpResponse http(std::string_view method, const std::string& url, std::string_view body,
                  const std::vector<std::string>& headers, const HttpOptions& options);

}  // namespace cppapi::test
