// SPDX-License-Identifier: MIT
// One black-box suite, written once, run against every front server x {http, https}:
//   nginx -> cppapi serve (unix socket, shipped cppapi.conf)   nginx -> cppapi serve (TCP, cppapi-tcp.conf)
//   lighttpd -> spawn-fcgi pool (cppapi-socket.conf + the shipped systemd unit's command line)
//   lighttpd spawning cppapi (cppapi-bin-path.conf)
//   apache mod_fcgid (cppapi-fcgid.conf)   apache mod_proxy_fcgi -> cppapi serve (cppapi-proxy-fcgi.conf)
//   apache mod_cgid, cppapi as plain CGI (cppapi-cgi.conf)
// Every server also loads the shipped TLS config of its kind (deploy/*/cppapi-tls.conf) with a
// certificate made at run time: the https tests go through it, and its http port must redirect
// (lighttpd's answers 403 to /api/ instead, so lighttpd runs twice: the API file alone for plain
// http, and the API file plus the TLS file as shipped for https and its plain port).
// The configs are the files in deploy/, with only paths and ports replaced (harness: deploy_file);
// their IPv6 listen lines stay, on [::1].
//
// Each front end is started once, by the first of its tests, and serves both schemes; ctest
// runs one process per front end (tests/integration/CMakeLists.txt), e.g. by hand:
//   build/test/tests/integration/cppapi_integration_tests --gtest_filter='apache_fcgid/*'
#include <algorithm>
#include <cctype>
#include <functional>
#include <iostream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace cppapi::test {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;
using json = nlohmann::json;

constexpr std::string_view kText = "text/plain; charset=utf-8";
constexpr std::string_view kJson = "application/json";

enum class Scheme { kHttp, kHttps };

// ---- the front ends

/// A started front end: its servers, and where to reach them.
class Running {
 public:
  virtual ~Running() = default;
  /// "http://127.0.0.1:<port>" or "https://127.0.0.1:<tls port>"
  virtual std::string base(Scheme scheme) const = 0;
  /// The plain-http port of the shipped TLS config (the one that redirects to https).
  virtual std::string redirect_base() const = 0;
  /// "http://[::1]:<port>" / "https://[::1]:<port>" where the shipped config listens on IPv6
  /// too (its `[::]` lines kept, on ::1); "" where it has no IPv6 line of its own.
  virtual std::string ipv6_base(Scheme) const { return {}; }
  /// The front server's error log, whole.
  virtual std::string error_log() const = 0;
  virtual std::vector<std::string> complaints(std::string_view error_log) const = 0;
  /// Where cppapi's own log lines end up ("" if nowhere).
  virtual std::string backend_log() const = 0;
  /// Stops everything; returns what went wrong on the way (cppapi's exit status, ...).
  virtual std::vector<std::string> stop() = 0;
};

struct FrontEnd {
  std::string name;
  /// false: the server drops cppapi's Content-Length and re-chunks the reply (Apache
  /// mod_proxy_fcgi and mod_cgid); the body must still be exact.
  bool passes_content_length = true;
  /// false: API URLs on the TLS config's plain-http port are refused (403), not redirected (lighttpd).
  bool redirects_api = true;
  /// false: HEAD of an empty reply comes without "Content-Length: 0" (Apache drops it).
  bool head_keeps_zero_length = true;
  /// The shipped config has IPv6 listen lines for this scheme (nginx: both; lighttpd: https).
  bool ipv6_http = false, ipv6_https = false;
  std::function<std::unique_ptr<Running>(const TempDir&, const TestCertificate&)> start;
};

struct Ports {
  int tls = free_port();
  int redirect = free_port();
  int tls6 = free_port();  ///< the shipped `[::]:443` lines, on [::1]
  int redirect6 = free_port();
};

std::string www() { return (source_dir() / "www").string(); }

std::string https_base(int port) { return "https://127.0.0.1:" + std::to_string(port); }
std::string http_base(int port) { return "http://127.0.0.1:" + std::to_string(port); }
std::string base6(Scheme scheme, int port) {
  return (scheme == Scheme::kHttps ? "https://[::1]:" : "http://[::1]:") + std::to_string(port);
}

std::string exit_problem(std::string_view what, const ExitStatus& status) {
  if (status == ExitStatus{0, 0}) return {};
  std::ostringstream out;
  out << what << " ended with " << status;
  return out.str();
}

/// exit_problems() (exit status and crash lines of its log) appended to `problems`.
void add_cppapi_problems(std::vector<std::string>& problems, std::string_view what, const ExitStatus& status,
                         std::string_view log) {
  for (auto& problem : exit_problems(what, status, log)) problems.push_back(std::move(problem));
}

/// Crash lines in a log cppapi wrote while a server ran it (no exit status of ours to see).
void add_crash_lines(std::vector<std::string>& problems, std::string_view what, std::string_view log) {
  for (const auto& line : crash_lines(log)) problems.push_back(std::string(what) + ": " + line);
  if (auto problem = engine_problem(log); !problem.empty()) problems.push_back(std::string(what) + ": " + problem);
}

// -- nginx

// deploy/nginx/cppapi-tls.conf on loopback ports, with the test certificate and `fastcgi_pass`.
std::string nginx_tls_site(const Ports& ports, const TestCertificate& cert, const std::string& fastcgi_pass) {
  return deploy_file("nginx/cppapi-tls.conf",
                     {{"listen 80;", "listen 127.0.0.1:" + std::to_string(ports.redirect) + ";"},
                      {"listen [::]:80;", "listen [::1]:" + std::to_string(ports.redirect6) + ";"},
                      {"listen 443 ssl http2;", "listen 127.0.0.1:" + std::to_string(ports.tls) + " ssl http2;"},
                      {"listen [::]:443 ssl http2;", "listen [::1]:" + std::to_string(ports.tls6) + " ssl http2;"},
                      {"/etc/ssl/cppapi/fullchain.pem", cert.certificate.string()},
                      {"/etc/ssl/cppapi/privkey.pem", cert.key.string()},
                      {"root /var/www/cppapi;", "root \"" + www() + "\";"},
                      {"fastcgi_pass unix:/run/cppapi/cppapi.sock;", "fastcgi_pass " + fastcgi_pass + ";"}});
}

class NginxFrontEnd : public Running {
 public:
  // tcp: deploy/nginx/cppapi-tcp.conf (upstream block) to `cppapi serve --listen 127.0.0.1:PORT`;
  // else the shipped location snippet deploy/nginx/cppapi.conf to a unix socket.
  NginxFrontEnd(const TempDir& dir, const TestCertificate& cert, bool tcp)
      : tcp_port_(tcp ? free_port() : 0),
        cppapi_(dir, pool_options(tcp_port_)),
        nginx_(dir, cppapi_.socket(), config(cert, tcp)) {}

  std::string base(Scheme scheme) const override {
    return scheme == Scheme::kHttps ? https_base(ports_.tls) : http_base(nginx_.port());
  }
  std::string redirect_base() const override { return http_base(ports_.redirect); }
  std::string ipv6_base(Scheme scheme) const override {
    if (scheme == Scheme::kHttps) return base6(scheme, ports_.tls6);
    return tcp_port_ ? base6(scheme, http6_port_) : std::string();  // the unix setup's http site is the harness's
  }
  std::string error_log() const override { return nginx_.error_log(); }
  std::vector<std::string> complaints(std::string_view log) const override { return nginx_complaints(log); }
  std::string backend_log() const override { return cppapi_.log(); }
  std::vector<std::string> stop() override {
    std::vector<std::string> problems;
    nginx_.stop();
    const ExitStatus status = cppapi_.stop();
    add_cppapi_problems(problems, "cppapi after SIGTERM", status, cppapi_.log());
    // operations.md: a stop removes the socket file.
    if (!tcp_port_ && fs::exists(cppapi_.socket())) problems.push_back("cppapi left its socket file behind");
    return problems;
  }

 private:
  static CppapiServer::Options pool_options(int tcp_port) {
    CppapiServer::Options options;
    options.tcp_port = tcp_port;
    return options;
  }

  std::string config(const TestCertificate& cert, bool tcp) const {
    if (!tcp) {
      // The harness's own server block with the shipped location (@API_LOCATION@), plus the TLS site.
      return nginx_config(R"conf(    server {
        listen 127.0.0.1:@PORT@;
        server_name localhost;
        root "@WWW@";
@API_LOCATION@
    }
)conf" + nginx_tls_site(ports_, cert, "unix:" + cppapi_.socket().string()));
    }
    const std::string site = deploy_file(
        "nginx/cppapi-tcp.conf", {{"listen 80;", "listen 127.0.0.1:@PORT@;"},
                                  {"listen [::]:80;", "listen [::1]:" + std::to_string(http6_port_) + ";"},
                                  {"server 127.0.0.1:9000;", "server 127.0.0.1:" + std::to_string(tcp_port_) + ";"},
                                  {"root /var/www/cppapi;", "root \"" + www() + "\";"}});
    // The TLS site talks to the same upstream block.
    return nginx_config(site + nginx_tls_site(ports_, cert, "cppapi"));
  }

  Ports ports_;
  int tcp_port_;
  int http6_port_ = free_port();
  CppapiServer cppapi_;
  NginxServer nginx_;
};

// -- lighttpd

// deploy/lighttpd/cppapi-tls.conf as shipped, on loopback ports: only the certificate paths
// and the ports of its two $SERVER["socket"] blocks change. Its `$HTTP["scheme"] == "http"`
// block applies to every plain-http port of that lighttpd (here its main port): /api/ is 403
// there and pages redirect (deploy-lighttpd.md, TLS).
std::string lighttpd_tls(const Ports& ports, const TestCertificate& cert) {
  return deploy_file(
      "lighttpd/cppapi-tls.conf",
      {{"/etc/ssl/cppapi/fullchain.pem", cert.certificate.string()},
       {"/etc/ssl/cppapi/privkey.pem", cert.key.string()},
       {"$SERVER[\"socket\"] == \":443\"", "$SERVER[\"socket\"] == \"127.0.0.1:" + std::to_string(ports.tls) + "\""},
       {"$SERVER[\"socket\"] == \"[::]:443\"", "$SERVER[\"socket\"] == \"[::1]:" + std::to_string(ports.tls6) + "\""}});
}

// The command line and environment of the shipped deploy/lighttpd/cppapi-spawn-fcgi.service.
Process start_spawn_fcgi(const TempDir& dir, const fs::path& socket) {
  const std::string unit = deploy_file("lighttpd/cppapi-spawn-fcgi.service",
                                       {{"/run/cppapi/cppapi.sock", socket.string()},
                                        {"/usr/lib/cppapi/cppapi", cppapi_binary_for_other_users(dir).string()}});
  std::vector<std::string> argv, env;
  std::istringstream lines(unit);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("Environment=")) env.push_back(line.substr(12));
    if (!line.starts_with("ExecStart=")) continue;
    std::istringstream words(line.substr(10));
    for (std::string word; words >> word;) argv.push_back(word);
  }
  if (argv.empty() || std::find(argv.begin(), argv.end(), "-n") == argv.end())
    throw std::runtime_error("cppapi-spawn-fcgi.service: no ExecStart=spawn-fcgi -n ...");
  if (::geteuid() != 0) {  // only root may hand the socket and the process to www-data
    for (const char* option : {"-u", "-g", "-U", "-G"}) {
      const auto at = std::find(argv.begin(), argv.end(), option);
      if (at != argv.end()) argv.erase(at, at + 2);
    }
  }
  return Process(std::move(argv), dir / "cppapi.log", {std::move(env), dir.path()});
}

// Two lighttpd, as a user would run them: one with the API file alone (plain http, the
// setup without TLS), one with the API file plus the shipped TLS file (https; its plain-http
// port refuses /api/ and redirects pages). Both reach the same spawn-fcgi pool, or spawn
// their own cppapi (bin-path).
class LighttpdFrontEnd : public Running {
 public:
  // bin_path: lighttpd starts cppapi (cppapi-bin-path.conf); else spawn-fcgi does (cppapi-socket.conf).
  LighttpdFrontEnd(const TempDir& dir, const TestCertificate& cert, bool bin_path)
      : log_(dir / "cppapi.log"),
        spawner_(start_pool(dir, bin_path)),
        lighttpd_(dir, api_config(dir, bin_path, "lighttpd-cppapi.sock")),
        tls_lighttpd_(tls_dir_, api_config(dir, bin_path, "lighttpd-tls-cppapi.sock") + lighttpd_tls(ports_, cert),
                      {ports_.tls}) {}

  std::string base(Scheme scheme) const override {
    return scheme == Scheme::kHttps ? https_base(ports_.tls) : http_base(lighttpd_.port());
  }
  std::string redirect_base() const override { return http_base(tls_lighttpd_.port()); }
  std::string ipv6_base(Scheme scheme) const override {
    return scheme == Scheme::kHttps ? base6(scheme, ports_.tls6) : std::string();
  }
  std::string error_log() const override { return lighttpd_.error_log(); }
  std::vector<std::string> complaints(std::string_view log) const override { return lighttpd_complaints(log); }
  std::string backend_log() const override { return read_file(log_); }
  std::vector<std::string> stop() override {
    std::vector<std::string> problems;
    for (auto* server : {&lighttpd_, &tls_lighttpd_}) {
      if (auto p = exit_problem("lighttpd after SIGTERM", server->stop()); !p.empty()) problems.push_back(p);
    }
    // The TLS server's log as a whole (the tests check the plain one as they go).
    for (const auto& line : lighttpd_complaints(tls_lighttpd_.error_log()))
      problems.push_back("TLS lighttpd error log: " + line);
    if (spawner_) {
      const ExitStatus status = spawner_->stop();
      add_cppapi_problems(problems, "cppapi (spawn-fcgi -n) after SIGTERM", status, read_file(log_));
    } else {  // bin-path: lighttpd started and stopped cppapi; its log file is all there is to see
      add_crash_lines(problems, "cppapi (bin-path) log", read_file(log_));
    }
    return problems;
  }

 private:
  std::optional<Process> start_pool(const TempDir& dir, bool bin_path) {
    if (bin_path) return std::nullopt;
    const fs::path socket = dir / "cppapi.sock";
    std::optional<Process> pool(start_spawn_fcgi(dir, socket));
    if (!wait_for_unix_socket(socket))
      throw std::runtime_error("spawn-fcgi made no socket; log:\n" + read_file(dir / "cppapi.log"));
    return pool;
  }

  // The shipped API file; for bin-path each lighttpd spawns its own cppapi on `own_socket`.
  std::string api_config(const TempDir& dir, bool bin_path, std::string_view own_socket) const {
    return bin_path ? deploy_file("lighttpd/cppapi-bin-path.conf",
                                  {{"/run/lighttpd/cppapi.sock", (dir / own_socket).string()},
                                   {"/usr/lib/cppapi/cppapi", cppapi_binary().string()},
                                   {"/var/log/lighttpd/cppapi.log", log_.string()}})
                    : deploy_file("lighttpd/cppapi-socket.conf",
                                  {{"/run/cppapi/cppapi.sock", (dir / "cppapi.sock").string()}});
  }

  fs::path log_;
  Ports ports_;
  TempDir tls_dir_;  // the second lighttpd's own files (pid file, error log)
  std::optional<Process> spawner_;
  LighttpdServer lighttpd_;
  LighttpdServer tls_lighttpd_;
};

// -- apache

enum class ApacheMode { kFcgid, kProxyFcgi, kCgi };

// deploy/apache/cppapi-tls.conf on loopback ports: its two virtual hosts, with the test certificate.
std::string apache_tls(const Ports& ports, const TestCertificate& cert, const std::string& www) {
  return deploy_file("apache/cppapi-tls.conf",
                     {{"<VirtualHost *:80>", "<VirtualHost *:" + std::to_string(ports.redirect) + ">"},
                      {"<VirtualHost *:443>", "<VirtualHost *:" + std::to_string(ports.tls) + ">"},
                      {"/etc/ssl/cppapi/fullchain.pem", cert.certificate.string()},
                      {"/etc/ssl/cppapi/privkey.pem", cert.key.string()},
                      {"DocumentRoot /var/www/html", "DocumentRoot \"" + www + "\""}});
}

class ApacheFrontEnd : public Running {
 public:
  ApacheFrontEnd(const TempDir& dir, const TestCertificate& cert, ApacheMode mode)
      : mode_(mode), cppapi_(start_pool(dir, mode)), apache_(dir, options(dir, cert)) {}

  std::string base(Scheme scheme) const override {
    return scheme == Scheme::kHttps ? https_base(ports_.tls) : http_base(apache_.port());
  }
  std::string redirect_base() const override { return http_base(ports_.redirect); }
  std::string error_log() const override { return apache_.error_log(); }
  std::vector<std::string> complaints(std::string_view log) const override { return apache_complaints(log); }
  // mod_fcgid and mod_cgid hand cppapi's stderr to Apache's error log.
  std::string backend_log() const override { return cppapi_ ? cppapi_->log() : apache_.error_log(); }
  std::vector<std::string> stop() override {
    std::vector<std::string> problems;
    if (auto p = exit_problem("apache after SIGTERM", apache_.stop()); !p.empty()) problems.push_back(p);
    if (cppapi_) {
      const ExitStatus status = cppapi_->stop();
      add_cppapi_problems(problems, "cppapi after SIGTERM", status, cppapi_->log());
    } else {  // mod_fcgid, mod_cgid: cppapi's stderr is in Apache's error log
      add_crash_lines(problems, "cppapi (in apache's error log)", apache_.error_log());
    }
    return problems;
  }

 private:
  static std::optional<CppapiServer> start_pool(const TempDir& dir, ApacheMode mode) {
    if (mode != ApacheMode::kProxyFcgi) return std::nullopt;
    // Test only: Apache's children run as www-data (see ApacheServer) and must reach a socket
    // made by root. In production cppapi runs as www-data and keeps the default 0660.
    CppapiServer::Options options;
    options.extra_args = {"--socket-mode", "0666"};
    return std::optional<CppapiServer>(std::in_place, dir, options);
  }

  ApacheServer::Options options(const TempDir& dir, const TestCertificate& cert) const {
    ApacheServer::Options o;
    const fs::path binary_path = cppapi_binary_for_other_users(dir);  // mod_fcgid, mod_cgid run it as www-data
    const std::string binary = binary_path.string();
    switch (mode_) {
      case ApacheMode::kFcgid:
        o.modules = {"fcgid"};
        o.config = deploy_file("apache/cppapi-fcgid.conf", {{"/usr/lib/cppapi/cppapi", binary}});
        // mod_fcgid hands its children a fixed environment: the engine of this run goes in it.
        o.config += "FcgidInitialEnv CPPAPI_ENGINE " + expected_engine() + "\n";
        break;
      case ApacheMode::kProxyFcgi:
        o.modules = {"proxy", "proxy_fcgi"};
        o.config =
            deploy_file("apache/cppapi-proxy-fcgi.conf",
                        {{"proxy:unix:/run/cppapi/cppapi.sock|", "proxy:unix:" + cppapi_->socket().string() + "|"}});
        break;
      case ApacheMode::kCgi:
        o.modules = {"cgid"};
        o.config = deploy_file(
            "apache/cppapi-cgi.conf",
            {{"\"/usr/lib/cppapi/cppapi/\"", "\"" + binary + "/\""},
             {"<Directory \"/usr/lib/cppapi\">", "<Directory \"" + binary_path.parent_path().string() + "\">"}});
        break;
    }
    o.modules.insert(o.modules.end(), {"ssl", "rewrite", "http2"});
    // Plain http through the shipped site (its <VirtualHost> on the main port), https
    // through the shipped TLS site.
    // Apache's children (www-data) must reach the document root: @WWW@ is ApacheServer's.
    o.config += deploy_file("apache/cppapi-site.conf", {{"<VirtualHost *:80>", "<VirtualHost *:@PORT@>"},
                                                        {"DocumentRoot /var/www/html", "DocumentRoot \"@WWW@\""}});
    o.config += apache_tls(ports_, cert, "@WWW@");
    o.extra_ports = {ports_.tls, ports_.redirect};
    return o;
  }

  ApacheMode mode_;
  Ports ports_;
  std::optional<CppapiServer> cppapi_;
  ApacheServer apache_;
};

const FrontEnd kNginxUnix{
    "nginx_unix", true, true, true, false, true, [](const TempDir& dir, const TestCertificate& cert) {
      return std::make_unique<NginxFrontEnd>(dir, cert, false);
    }};
const FrontEnd kNginxTcp{
    "nginx_tcp", true, true, true, true, true, [](const TempDir& dir, const TestCertificate& cert) {
      return std::make_unique<NginxFrontEnd>(dir, cert, true);
    }};
const FrontEnd kLighttpdSpawnFcgi{
    "lighttpd_spawn_fcgi", true, false, true, false, true, [](const TempDir& dir, const TestCertificate& cert) {
      return std::make_unique<LighttpdFrontEnd>(dir, cert, false);
    }};
const FrontEnd kLighttpdBinPath{
    "lighttpd_bin_path", true, false, true, false, true, [](const TempDir& dir, const TestCertificate& cert) {
      return std::make_unique<LighttpdFrontEnd>(dir, cert, true);
    }};
const FrontEnd kApacheFcgid{
    "apache_fcgid", true, true, false, false, false, [](const TempDir& dir, const TestCertificate& cert) {
      return std::make_unique<ApacheFrontEnd>(dir, cert, ApacheMode::kFcgid);
    }};
const FrontEnd kApacheProxyFcgi{
    "apache_proxy_fcgi", false, true, false, false, false, [](const TempDir& dir, const TestCertificate& cert) {
      return std::make_unique<ApacheFrontEnd>(dir, cert, ApacheMode::kProxyFcgi);
    }};
const FrontEnd kApacheCgi{
    "apache_cgid", false, true, false, false, false, [](const TempDir& dir, const TestCertificate& cert) {
      return std::make_unique<ApacheFrontEnd>(dir, cert, ApacheMode::kCgi);
    }};

// ---- the fixture

struct Target {
  const FrontEnd* front;
  Scheme scheme;
};

void PrintTo(const Target& target, std::ostream* out) {
  *out << target.front->name << (target.scheme == Scheme::kHttps ? " https" : " http");
}

std::string target_name(const ::testing::TestParamInfo<Target>& info) {
  return info.param.scheme == Scheme::kHttps ? "https" : "http";
}

class FrontServer : public ::testing::TestWithParam<Target> {
 protected:
  struct Started {
    TempDir dir;
    TestCertificate cert = make_test_certificate(dir / "tls");
    std::unique_ptr<Running> running;
  };

  // The servers of one front end live from its first test to the end of its suite (one
  // instantiation: both schemes). A start failure fails every test of the suite (a throw in
  // SetUpTestSuite would merely skip them).
  static void TearDownTestSuite() {
    if (!started_) return;
    const std::string log_file = started_->dir.path().string();
    const auto problems = started_->running->stop();
    EXPECT_THAT(problems, IsEmpty()) << front_name_ << "; files in " << log_file;
    // What the servers logged after the last test: shutting down.
    const std::string log = started_->running->error_log();
    EXPECT_THAT(started_->running->complaints(log.substr(std::min(log_checked_, log.size()))), IsEmpty())
        << front_name_ << " error log";
    started_.reset();
    front_name_.clear();
  }

  void SetUp() override {
    const FrontEnd& front = *GetParam().front;
    if (front_name_ != front.name) {
      TearDownTestSuite();
      front_name_ = front.name;
      start_error_.clear();
      log_checked_ = 0;
      try {
        started_ = std::make_unique<Started>();
        started_->running = front.start(started_->dir, started_->cert);
      } catch (const std::exception& e) {
        start_error_ = e.what();
        started_.reset();
      }
    }
    ASSERT_TRUE(started_) << front.name << " did not start: " << start_error_;
    // Each test checks the error log from where the previous one stopped (the first: from the start).
    error_log_start_ = log_checked_;
    backend_log_start_ = started_->running->backend_log().size();
  }

  void TearDown() override {
    if (!started_) return;
    const std::string whole_log = started_->running->error_log();
    const std::string error_log = whole_log.substr(std::min(error_log_start_, whole_log.size()));
    log_checked_ = whole_log.size();
    auto complaints = started_->running->complaints(error_log);
    std::erase_if(complaints, [&](const std::string& line) {
      return std::any_of(expected_complaints_.begin(), expected_complaints_.end(),
                         [&](const std::string& expected) { return line.find(expected) != std::string::npos; });
    });
    EXPECT_THAT(complaints, IsEmpty()) << "in the error log of " << front_name_;
    if (HasFailure()) {
      std::cerr << "----- " << front_name_ << " error log during this test\n"
                << error_log << "----- cppapi log during this test\n"
                << backend_log_since_setup() << "-----\n";
    }
  }

  const FrontEnd& front() const { return *GetParam().front; }
  Running& running() const { return *started_->running; }
  bool https() const { return GetParam().scheme == Scheme::kHttps; }
  std::string backend_log_since_setup() const {
    const std::string log = started_->running->backend_log();
    return log.size() >= backend_log_start_ ? log.substr(backend_log_start_) : log;
  }

  /// https requests trust the test certificate only, and check that it names 127.0.0.1.
  HttpOptions http_options() const { return {started_->cert.certificate}; }

  HttpResponse request(std::string_view method, std::string_view call, std::string_view body = {},
                       const std::vector<std::string>& headers = {}) const {
    return http(method, started_->running->base(GetParam().scheme) + "/api/" + std::string(call), body, headers,
                http_options());
  }
  HttpResponse get(std::string_view call) const { return request("GET", call); }

  // The reply arrived whole, and its length is exact: one Content-Length equal to the bytes
  // received, or, where the server re-chunks (Apache mod_proxy_fcgi and mod_cgid drop the
  // backend's Content-Length), none and Transfer-Encoding: chunked.
  void expect_exact_length(const HttpResponse& r) const {
    EXPECT_EQ(r.curl_code, CURLE_OK) << r;
    EXPECT_LE(r.headers.count("content-length"), 1u) << r;
    if (r.content_length) {
      EXPECT_EQ(*r.content_length, r.body.size()) << r;
      EXPECT_EQ(r.header("transfer-encoding"), "") << r;
    } else if (front().passes_content_length) {
      ADD_FAILURE() << front().name << " should pass cppapi's Content-Length on: " << r;
    } else {
      EXPECT_EQ(r.header("transfer-encoding"), "chunked") << r;
    }
  }

  void expect_reply(const HttpResponse& r, long status, std::string_view content_type) const {
    EXPECT_EQ(r.status, status) << r;
    EXPECT_EQ(r.header("content-type"), content_type) << r;
    expect_exact_length(r);
  }

  // An error reply: JSON {"error": non-empty string, "status": the HTTP status, "call": call}.
  // Returns the error message ("" if there is none).
  std::string expect_error(const HttpResponse& r, long status, std::string_view call) const {
    expect_reply(r, status, kJson);
    const json body = json::parse(r.body, nullptr, false);
    if (!body.is_object()) {
      ADD_FAILURE() << "error body is not a JSON object: " << r;
      return {};
    }
    EXPECT_EQ(body.value("status", json()), json(status)) << r;
    EXPECT_EQ(body.value("call", json()), json(call)) << r;
    const json error = body.value("error", json());
    EXPECT_TRUE(error.is_string() && !error.get<std::string>().empty()) << r;
    return error.is_string() ? error.get<std::string>() : std::string();
  }

  json expect_json(const HttpResponse& r) const {
    expect_reply(r, 200, kJson);
    const json value = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(value.is_discarded()) << "not JSON: " << r;
    return value;
  }

 private:
  static inline std::unique_ptr<Started> started_;
  static inline std::string front_name_;
  static inline std::string start_error_;
  static inline std::size_t log_checked_ = 0;  ///< error log bytes the tests have checked
  std::size_t error_log_start_ = 0;
  std::size_t backend_log_start_ = 0;

 protected:
  /// Error-log lines holding one of these are what this test provokes, not complaints.
  std::vector<std::string> expected_complaints_;
};

std::size_t utf8_characters(std::string_view text) {
  return std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

// ---- the example calls

TEST_P(FrontServer, Add) {
  auto r = get("add&2&3");
  expect_reply(r, 200, kText);
  EXPECT_EQ(r.body, "5");
  r = get("add&-7&3");
  expect_reply(r, 200, kText);
  EXPECT_EQ(r.body, "-4");
}

TEST_P(FrontServer, QueryStringIsIgnored) {
  const auto r = get("add&2&3?x=1&y=%26");
  expect_reply(r, 200, kText);
  EXPECT_EQ(r.body, "5");
}

TEST_P(FrontServer, HelloCountsBytesNotCharacters) {
  auto r = get("hello");
  expect_reply(r, 200, kText);
  EXPECT_EQ(r.body, "Grüße, Welt! ✓");
  r = get("hello&J%C3%B6rg");
  expect_reply(r, 200, kText);
  EXPECT_EQ(r.body, "Grüße, Jörg! ✓");
  // ü, ß, ö take 2 bytes and ✓ 3: 14 characters, 19 bytes.
  EXPECT_EQ(utf8_characters(r.body), 14u);
  EXPECT_EQ(r.body.size(), 19u);
  if (r.content_length) {
    EXPECT_EQ(*r.content_length, 19u) << r;
  }
}

// Split on & first, then percent-decode each argument once, whatever the server decoded for
// itself (SCRIPT_NAME, PATH_INFO): %26, %2F, %3F, %25 and UTF-8 arrive as written.
TEST_P(FrontServer, EchoDecodesEachArgumentOnce) {
  const std::vector<std::pair<std::string, json>> cases{
      {"echo&a&b%26c", {"a", "b&c"}},
      {"echo&a%2Fb&c%2F%2Fd", {"a/b", "c//d"}},
      {"echo&gr%C3%BC%C3%9Fe&%E2%9C%93", {"grüße", "✓"}},
      {"echo&a%26b%2Fc%20%C3%A4", {"a&b/c ä"}},
      {"echo&1+2", {"1+2"}},
      {"echo&100%25&%2541", {"100%", "%41"}},
      {"echo&a%3Fb%23c", {"a?b#c"}},
      {"echo&x%3By%3Dz%2Bw", {"x;y=z+w"}},
      {"echo&a%26b?x=1&y", {"a&b"}},
      {"echo", json::array()},
  };
  for (const auto& [call, expected] : cases) {
    SCOPED_TRACE(call);
    EXPECT_EQ(expect_json(get(call)), expected);
  }
}

TEST_P(FrontServer, NoteFoundAndMissing) {
  const json note = expect_json(get("notes/get&1"));
  ASSERT_TRUE(note.is_object()) << note;
  EXPECT_EQ(note.value("id", json()), 1) << note;
  EXPECT_TRUE(note.value("text", json()).is_string()) << note;
  EXPECT_THAT(expect_error(get("notes/get&999999"), 404, "notes/get"), HasSubstr("no such note"));
}

TEST_P(FrontServer, ServerTime) {
  const auto plain = get("serverTime");
  expect_reply(plain, 200, kText);
  EXPECT_TRUE(std::any_of(plain.body.begin(), plain.body.end(), [](unsigned char c) { return std::isdigit(c); }))
      << plain;
  const auto now = get("serverTime&now");
  expect_reply(now, 200, kText);
  ASSERT_THAT(now.body, StartsWith("now: "));
  // The same clock format behind the prefix (digits blanked: the seconds may tick between calls).
  const auto shape = [](std::string text) {
    std::replace_if(
        text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); }, '0');
    return text;
  };
  EXPECT_EQ(shape(now.body.substr(5)), shape(plain.body));
}

TEST_P(FrontServer, SleepingCallAnswers) {
  const auto r = get("test/sleep&1");
  expect_reply(r, 200, kText);
  EXPECT_EQ(r.body, "slept 1");
}

// ---- exact bodies and lengths

TEST_P(FrontServer, EmptyBody) {
  const auto r = get("test/empty");
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.header("content-type"), Not(IsEmpty())) << r;
  expect_exact_length(r);
  EXPECT_EQ(r.body, "");
  if (front().passes_content_length) {
    EXPECT_EQ(r.content_length, 0u) << r;
  }
}

TEST_P(FrontServer, OneMebibyte) {
  constexpr std::size_t kSize = 1 << 20;
  const auto r = get("test/blob&" + std::to_string(kSize));
  expect_reply(r, 200, "application/octet-stream");
  ASSERT_EQ(r.body.size(), kSize);
  EXPECT_EQ(first_wrong_blob_byte(r.body), std::string::npos) << "first wrong byte";
}

// HEAD: the GET's status and content type, no body, and the GET's length (where the server
// passes Content-Length on; Apache's re-chunking modules send none for HEAD).
TEST_P(FrontServer, HeadHasTheHeadersOfGet) {
  for (const std::string call :
       {"add&2&3", "test/blob&1048576", "hello&J%C3%B6rg", "test/empty", "add&2", "nosuchcall"}) {
    SCOPED_TRACE(call);
    const auto got = get(call);
    const auto head = request("HEAD", call);
    expect_exact_length(got);
    EXPECT_EQ(head.curl_code, CURLE_OK) << head;
    EXPECT_EQ(head.status, got.status) << head;
    EXPECT_EQ(head.header("content-type"), got.header("content-type")) << head;
    EXPECT_EQ(head.body, "");
    EXPECT_LE(head.headers.count("content-length"), 1u) << head;
    const bool must_have_length =
        front().passes_content_length && (!got.body.empty() || front().head_keeps_zero_length);
    if (must_have_length || head.content_length) {
      EXPECT_EQ(head.content_length, got.body.size()) << head;
    }
  }
}

// Larger than mod_fcgid's default FcgidMaxRequestLen (128 KiB), which the shipped
// cppapi-fcgid.conf raises, and than nginx's client_body_buffer_size (a temp file).
TEST_P(FrontServer, PostBodyArrivesIntact) {
  constexpr std::size_t kSize = 200 * 1000;
  constexpr std::string_view kContentType = "text/x-test; charset=utf-8";
  std::string body;
  for (int line = 0; body.size() < kSize - 64; ++line)
    body += std::to_string(line) + ": a&b%26c+d=\"quoted\" \\ grüße ✓\n";
  body.resize(kSize, '.');

  const auto r = request("POST", "test/inspect&p%26q", body,
                         {"Content-Type: " + std::string(kContentType), "User-Agent: cppapi-integration"});
  const json seen = expect_json(r);
  ASSERT_TRUE(seen.is_object()) << r;
  EXPECT_EQ(seen.value("method", ""), "POST");
  EXPECT_EQ(seen.value("call", ""), "test/inspect");
  EXPECT_EQ(seen.value("user_agent", ""), "cppapi-integration");
  EXPECT_EQ(seen.value("content_type", ""), kContentType);
  EXPECT_EQ(seen.value("args", json()), json({"p&q"}));
  const std::string received = seen.value("body", "");
  EXPECT_EQ(received.size(), kSize);
  EXPECT_TRUE(received == body) << "the body changed on the way";

  const json empty = expect_json(request("POST", "test/inspect", ""));
  EXPECT_EQ(empty.value("method", ""), "POST");
  EXPECT_EQ(empty.value("body", json()), "");
}

// ---- what the handler sees: the same call, arguments and TLS flag under every server

TEST_P(FrontServer, HandlerSeesCallArgumentsAndScheme) {
  const json seen = expect_json(get("test/inspect&x&y%26z%2Fw?q=1"));
  ASSERT_TRUE(seen.is_object());
  EXPECT_EQ(seen.value("method", ""), "GET");
  EXPECT_EQ(seen.value("call", ""), "test/inspect");
  EXPECT_EQ(seen.value("args", json()), json({"x", "y&z/w"}));
  EXPECT_EQ(seen.value("remote_addr", ""), "127.0.0.1");
  // HTTPS=on from the TLS config; absent on plain http.
  EXPECT_EQ(seen.value("https", json()), https());
}

// ---- errors: JSON {error, status, call} with the HTTP status

TEST_P(FrontServer, BadArgumentsAre400) {
  EXPECT_THAT(expect_error(get("add&2"), 400, "add"), AllOf(HasSubstr("argument 2"), HasSubstr("integer")));
  EXPECT_THAT(expect_error(get("add&x&1"), 400, "add"),
              AllOf(HasSubstr("argument 1"), HasSubstr("integer"), HasSubstr("\"x\"")));
}

TEST_P(FrontServer, UnknownCallsAre404) {
  expect_error(get("nosuchcall"), 404, "nosuchcall");
  expect_error(get("no/such/call&1"), 404, "no/such/call");
}

TEST_P(FrontServer, OtherMethodsAre405) {
  expect_error(request("PUT", "add&2&3", "x"), 405, "add");
  expect_error(request("DELETE", "add&2&3"), 405, "add");
}

TEST_P(FrontServer, HandlerFailureIs500WithoutTheDetail) {
  constexpr std::string_view kDetail = "secret detail";  // what tests/calls/test/fail.cpp throws
  const auto r = get("test/fail");
  expect_error(r, 500, "test/fail");
  EXPECT_THAT(r.body, Not(HasSubstr(kDetail)));
  EXPECT_THAT(r.body, Not(HasSubstr("runtime_error")));
  // ... the detail goes to cppapi's log (Apache's error log under mod_fcgid and mod_cgid).
  EXPECT_TRUE(wait_until([&] { return backend_log_since_setup().find(kDetail) != std::string::npos; }, 3s))
      << "cppapi's log does not mention \"" << kDetail << "\"";
}

// A broken escape never reaches a handler: 400, from cppapi (JSON) or from the server itself.
TEST_P(FrontServer, BrokenEscapeIs400) {
  expected_complaints_ = {"AH10244: invalid URI path"};  // Apache refuses it itself, and says so
  const auto r = get("echo&a%zz");
  EXPECT_EQ(r.status, 400) << r;
  if (r.header("content-type") == kJson) expect_error(r, 400, "echo");
}

// ---- TLS

// The TLS config's plain-http port sends browsers to https with the request exactly as sent.
// (The same check in both instances: a skipped half would prove nothing and hide a skip.)
TEST_P(FrontServer, PlainHttpRedirectsToHttps) {
  const std::string path = "/api/echo&a%26b%2Fc?x=%26";
  const auto r = http("GET", running().redirect_base() + path);
  EXPECT_EQ(r.curl_code, CURLE_OK) << r;
  if (!front().redirects_api) {
    // lighttpd would rebuild the target from its normalized URL (%26 -> &): refused instead.
    EXPECT_EQ(r.status, 403) << r;
    const auto page = http("GET", running().redirect_base() + "/index.html?x=1");
    EXPECT_EQ(page.status, 308) << page;
    EXPECT_THAT(page.header("location"), ::testing::MatchesRegex(R"(https://127\.0\.0\.1(:[0-9]+)?/index\.html\?x=1)"))
        << page;
    return;
  }
  EXPECT_EQ(r.status, 308) << r;
  const std::string location = r.header("location");
  std::smatch match;
  ASSERT_TRUE(std::regex_match(location, match, std::regex(R"(https://127\.0\.0\.1(:[0-9]+)?(/.*))"))) << r;
  EXPECT_EQ(match[2].str(), path) << r;
  // Followed to the TLS port: the same call, the same single argument.
  EXPECT_EQ(expect_json(http("GET", running().base(Scheme::kHttps) + match[2].str(), {}, {}, http_options())),
            json({"a&b/c"}));
}

// HTTP/2 over TLS (ALPN); over plain http a client that would take HTTP/2 gets HTTP/1.1.
TEST_P(FrontServer, HttpsSpeaksHttp2) {
  HttpOptions options = http_options();
  options.http_version = CURL_HTTP_VERSION_2TLS;
  const auto r = http("GET", running().base(GetParam().scheme) + "/api/hello&J%C3%B6rg", {}, {}, options);
  EXPECT_EQ(r.curl_code, CURLE_OK) << r;
  EXPECT_EQ(r.http_version, https() ? CURL_HTTP_VERSION_2_0 : CURL_HTTP_VERSION_1_1) << r;
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.body, "Grüße, Jörg! ✓");
  if (r.content_length) {
    EXPECT_EQ(*r.content_length, r.body.size()) << r;
  }
}

// ---- the harness parts this suite relies on

// The shipped configs' IPv6 listen lines, kept (on [::1]): the same calls over IPv6 loopback.
TEST_P(FrontServer, Ipv6ListenLinesServeTheSameCalls) {
  const bool listens = https() ? front().ipv6_https : front().ipv6_http;
  const std::string base = running().ipv6_base(GetParam().scheme);
  if (!listens) {
    EXPECT_EQ(base, "") << "an IPv6 port without a shipped IPv6 listen line";
    return;  // nothing of this config to check over IPv6 (its ports are the harness's, IPv4)
  }
  ASSERT_NE(base, "");
  const auto r = http("GET", base + "/api/echo&a%26b&%E2%9C%93", {}, {}, {});
  EXPECT_EQ(expect_json(r), json({"a&b", "✓"})) << base;
  const json seen = expect_json(http("GET", base + "/api/test/inspect", {}, {}, {}));
  EXPECT_EQ(seen.value("remote_addr", ""), "::1");
  EXPECT_EQ(seen.value("https", json()), https());
}

TEST(FrontServerHarness, SubstituteReplacesEveryOccurrenceAndRefusesAMissingOne) {
  EXPECT_EQ(substitute("listen 80; listen 80;\nroot /x;", {{"listen 80;", "listen 1;"}, {"/x", "/y"}}),
            "listen 1; listen 1;\nroot /y;");
  EXPECT_THROW(substitute("listen 80;", {{"listen 443;", "x"}}, "site"), std::runtime_error);
  EXPECT_THROW(deploy_file("no/such/file.conf"), std::runtime_error);
}

TEST(FrontServerHarness, ComplaintScannersPickTheServersOwnErrors) {
  const std::string lighttpd =
      "2026-11-27 08:15:39: (server.c.1704) server started (lighttpd/1.4.69)\n"
      "2026-11-27 08:40:07: (gw_backend.c.510) connect /run/lighttpd/cppapi.sock-0: Connection refused\n"
      "2026-11-27 08:16:10: (mod_openssl.c.3275) SSL: 1 error:0A000102:SSL routines::unsupported protocol\n"
      "2026-11-27 08:15:44: (server.c.2078) server stopped by UID = 0 PID = 29940\n";
  EXPECT_THAT(lighttpd_complaints(lighttpd),
              ::testing::ElementsAre(HasSubstr("gw_backend.c"), HasSubstr("mod_openssl.c")));
  const std::string apache =
      "[Fri Nov 27 08:17:43.576925 2026] [mpm_event:notice] [pid 1417:tid 1417] AH00489: configured\n"
      "[Fri Nov 27 08:17:02.806487 2026] [fcgid:warn] [pid 625:tid 651] mod_fcgid: HTTP request length 139072 "
      "(so far) exceeds MaxRequestLen (131072)\n"
      "[Fri Nov 27 08:34:21.624517 2026] [proxy_fcgi:error] [pid 11568:tid 11575] AH10414: To be forwarded path "
      "contains control characters or '?'\n"
      "2026-11-27 08:17:00.292 error [731] call test/fail: handler failed: secret detail\n"  // cppapi's stderr
      "[Fri Nov 27 08:17:43.560977 2026] [ssl:warn] [pid 1417:tid 1417] AH01873: Session Cache is not configured\n";
  EXPECT_THAT(apache_complaints(apache), ::testing::ElementsAre(HasSubstr("MaxRequestLen"), HasSubstr("AH10414")));
}

TEST(FrontServerHarness, TestCertificateIsMadeAtRunTime) {
  TempDir dir;
  const TestCertificate cert = make_test_certificate(dir / "tls");
  EXPECT_THAT(read_file(cert.certificate), StartsWith("-----BEGIN CERTIFICATE-----"));
  EXPECT_EQ(fs::status(cert.key).permissions() & (fs::perms::group_all | fs::perms::others_all), fs::perms::none);
}

#define FRONT_END(name, front)                                                                               \
  INSTANTIATE_TEST_SUITE_P(name, FrontServer,                                                                \
                           ::testing::Values(Target{&front, Scheme::kHttp}, Target{&front, Scheme::kHttps}), \
                           target_name)

FRONT_END(nginx_unix, kNginxUnix);
FRONT_END(nginx_tcp, kNginxTcp);
FRONT_END(lighttpd_spawn_fcgi, kLighttpdSpawnFcgi);
FRONT_END(lighttpd_bin_path, kLighttpdBinPath);
FRONT_END(apache_fcgid, kApacheFcgid);
FRONT_END(apache_proxy_fcgi, kApacheProxyFcgi);
FRONT_END(apache_cgid, kApacheCgi);

}  // namespace
}  // namespace cppapi::test
