// SPDX-License-Identifier: MIT
// The status listener through nginx as shipped (deploy/nginx/cppapi-status.conf): ping,
// status, JSON, full, metrics; the counters' exactness across crashes, recycling, reloads
// and timeouts; active/idle under a saturated pool; the listen queue; the slow log;
// sd_notify to a NOTIFY_SOCKET the test binds; a real Prometheus scraping the page.
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fastcgi_client.hpp"
#include "harness.hpp"
#include "pool_support.hpp"

namespace cppapi::test {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

/// The shipped status location pointed at `socket`.
std::string status_location(const fs::path& socket) {
  return deploy_file("nginx/cppapi-status.conf", {{"unix:/run/cppapi/cppapi-status.sock", "unix:" + socket.string()}});
}

std::string nginx_template(const fs::path& status_socket) {
  return nginx_config(R"(
    server {
        listen 127.0.0.1:@PORT@;
        server_name localhost;
        root "@WWW@";

@API_LOCATION@
)" + status_location(status_socket) +
                      R"(
    }
)");
}

/// The value of one sample line `name{labels} value` of a metrics page (-1 if absent).
double metric(const std::string& page, const std::string& series) {
  std::size_t at = 0;
  while ((at = page.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || page[at - 1] == '\n') return std::stod(page.substr(at + series.size() + 1));
    at += series.size();
  }
  return -1;
}

class Status : public ::testing::Test {
 protected:
  void start(int processes, int threads, std::vector<std::string> extra = {}, std::vector<std::string> env = {}) {
    status_socket_ = dir_ / "status.sock";
    extra.insert(extra.begin(),
                 {"--processes", std::to_string(processes), "--status-listen", "unix:" + status_socket_.string()});
    cppapi_.emplace(dir_, CppapiServer::Options{threads, std::move(extra), std::move(env)});
    ASSERT_TRUE(wait_for_unix_socket(status_socket_));
    nginx_.emplace(dir_, cppapi_->socket(), nginx_template(status_socket_));
    ASSERT_TRUE(wait_until([&] { return child_pids(master()).size() == static_cast<std::size_t>(processes); }));
  }
  // Tests that crash a worker on purpose (test/crash) say so; any other crash line fails.
  void TearDown() override { stop_and_check(nginx_, cppapi_, expected_crash_lines_); }
  void expect_crashes() { expected_crash_lines_ = {"killed by SIGABRT"}; }

  pid_t master() { return cppapi_->process().pid(); }
  std::string url(std::string_view path) const { return nginx_->url(std::string(path)); }
  HttpResponse api(std::string_view call) { return http("GET", url("/api/" + std::string(call))); }
  json status_json(std::string_view query = "?json") {
    const HttpResponse reply = http("GET", url("/cppapi-status/status" + std::string(query)));
    EXPECT_EQ(reply.status, 200) << reply;
    return json::parse(reply.body);
  }
  std::uint64_t requests_total() { return status_json()["requests_total"].get<std::uint64_t>(); }
  std::string metrics() { return http("GET", url("/cppapi-status/metrics")).body; }
  /// requests_total, and the sum of every histogram _count, which must agree.
  void expect_total(std::uint64_t expected, std::chrono::milliseconds timeout = 10s) {
    EXPECT_TRUE(wait_until([&] { return requests_total() == expected; }, timeout))
        << "requests_total " << requests_total() << ", expected " << expected;
    const std::string page = metrics();
    double counts = 0, totals = 0;
    for (const std::string& line : grep_lines(page, {"cppapi_request_duration_seconds_count{"}))
      counts += std::stod(line.substr(line.rfind(' ') + 1));
    for (const std::string& line : grep_lines(page, {"cppapi_requests_total{"}))
      totals += std::stod(line.substr(line.rfind(' ') + 1));
    EXPECT_EQ(counts, static_cast<double>(expected)) << page;
    EXPECT_EQ(totals, static_cast<double>(expected)) << page;
  }

  TempDir dir_;
  fs::path status_socket_;
  std::optional<CppapiServer> cppapi_;
  std::optional<NginxServer> nginx_;
  std::vector<std::string> expected_crash_lines_;  ///< crashes a test causes on purpose (test/crash)
};

// The version on the pages is `cppapi --version`'s, build id included, and stays right
// (the status listener too) after the master upgraded its binary in place (SIGUSR2).
TEST_F(Status, VersionCarriesTheBuildIdAcrossAnUpgrade) {
  start(2, 2);
  Process version_command({cppapi_binary().string(), "--version"}, dir_ / "version.log");
  ASSERT_EQ(version_command.wait_exit(10s), (ExitStatus{0, 0}));
  std::smatch found;
  const std::string printed = version_command.log();
  ASSERT_TRUE(std::regex_search(printed, found, std::regex(R"(^cppapi (\S+) \(build (\S+)\)\n$)"))) << printed;
  const std::string version = found[1].str() + " (" + found[2].str() + ")";
  EXPECT_EQ(status_json()["version"], version);
  EXPECT_THAT(metrics(), HasSubstr("cppapi_build_info{version=\"" + version + "\"} 1\n"));
  const pid_t pid = master();
  cppapi_->process().signal(SIGUSR2);
  ASSERT_TRUE(wait_until([&] { return cppapi_->log().find("master: upgraded in place") != std::string::npos; }))
      << cppapi_->log();
  ASSERT_TRUE(wait_until([&] { return http("GET", url("/cppapi-status/ping")).status == 200; }));
  const json after = status_json();
  EXPECT_EQ(after["version"], version);
  EXPECT_EQ(after["pid"], pid);
  EXPECT_EQ(api("add&2&3").status, 200);
}

TEST_F(Status, PagesBehindNginxAsShipped) {
  start(2, 2);
  const HttpResponse ping = http("GET", url("/cppapi-status/ping"));
  EXPECT_EQ(ping.status, 200) << ping;
  EXPECT_EQ(ping.body, "pong");
  EXPECT_THAT(ping.header("content-type"), StartsWith("text/plain"));

  const HttpResponse text = http("GET", url("/cppapi-status/status"));
  EXPECT_EQ(text.status, 200) << text;
  EXPECT_THAT(text.body, HasSubstr("requests total:"));
  EXPECT_THAT(text.body, HasSubstr("idle threads:         4"));
  EXPECT_EQ(http("GET", url("/cppapi-status")).body.substr(0, 8), "version:");

  const json plain = status_json();
  for (const char* key : {"version", "pid", "start_time", "uptime_seconds", "generation", "processes",
                          "threads_per_process", "active_requests", "idle_threads", "requests_total", "slow_requests",
                          "worker_restarts", "listen_queue", "max_listen_queue"})
    EXPECT_TRUE(plain.contains(key)) << key << " missing in " << plain.dump();
  EXPECT_FALSE(plain.contains("workers"));
  EXPECT_EQ(plain["pid"], master());
  EXPECT_EQ(plain["processes"], 2);
  EXPECT_EQ(plain["threads_per_process"], 2);

  const json full = status_json("?json&full");
  ASSERT_EQ(full["workers"].size(), 2u) << full.dump();
  const auto pids = child_pids(master());
  for (const json& worker : full["workers"]) {
    EXPECT_TRUE(pids.count(worker["pid"].get<pid_t>())) << worker.dump();
    for (const char* key : {"pid", "started", "requests", "active_requests", "rss_bytes", "state"})
      EXPECT_TRUE(worker.contains(key)) << key;
    EXPECT_GT(worker["rss_bytes"].get<std::uint64_t>(), 0u);
    EXPECT_EQ(worker["state"], "running");
  }
  EXPECT_THAT(http("GET", url("/cppapi-status/status?full")).body, HasSubstr("rss bytes"));

  ASSERT_EQ(api("add&2&3").status, 200);
  const HttpResponse prometheus = http("GET", url("/cppapi-status/metrics"));
  EXPECT_THAT(prometheus.header("content-type"), StartsWith("text/plain; version=0.0.4"));
  for (const char* name :
       {"cppapi_requests_total{call=\"add\",status=\"200\"} 1", "cppapi_request_duration_seconds_bucket",
        "cppapi_active_requests", "cppapi_idle_threads 4", "cppapi_workers 2",
        "cppapi_worker_restarts_total{reason=\"crash\"} 0", "cppapi_slow_requests_total", "cppapi_listen_queue",
        "cppapi_build_info{version=", "cppapi_start_time_seconds"})
    EXPECT_THAT(prometheus.body, HasSubstr(name));
  EXPECT_THAT(prometheus.body, Not(HasSubstr("# EOF")));
  const HttpResponse openmetrics =
      http("GET", url("/cppapi-status/metrics"), {}, {"Accept: application/openmetrics-text; version=1.0.0"});
  EXPECT_THAT(openmetrics.header("content-type"), StartsWith("application/openmetrics-text"));
  EXPECT_THAT(openmetrics.body, EndsWith("# EOF\n"));
  EXPECT_THAT(openmetrics.body, HasSubstr("# TYPE cppapi_requests counter"));

  // An unknown call counts under one label value, whatever its name.
  EXPECT_EQ(api("no/such&1").status, 404);
  EXPECT_EQ(api("other").status, 404);
  EXPECT_EQ(metric(metrics(), "cppapi_requests_total{call=\"(unknown)\",status=\"404\"}"), 2);
  EXPECT_EQ(http("GET", url("/cppapi-status/nothing")).status, 404);  // not in the shipped location
}

TEST_F(Status, CountsExactlyAcrossRecyclingWithMaxRequestsOne) {
  start(2, 2, {"--max-requests", "1"});
  constexpr int kRequests = 12;
  for (int i = 0; i < kRequests; ++i) ASSERT_EQ(api("add&1&" + std::to_string(i)).status, 200);
  expect_total(kRequests, 30s);  // 12 forks in a row: slow on a loaded machine
  // Every worker that served a request retired, exited and was folded in: only fresh ones are
  // left (a retire notice alone says nothing of the exit and the fold).
  const auto settled = [&] {
    const json full = status_json("?json&full");
    return full["workers"].size() == 2 &&
           std::all_of(full["workers"].begin(), full["workers"].end(),
                       [](const json& w) { return w["requests"] == 0 && w["state"] == "running"; });
  };
  EXPECT_TRUE(wait_until(settled, 30s)) << status_json("?json&full").dump();
  EXPECT_GE(metric(metrics(), "cppapi_worker_restarts_total{reason=\"max_requests\"}"), kRequests) << metrics();
  expect_total(kRequests);  // and still, once every recycled worker was folded in
}

TEST_F(Status, CrashedRequestCountsOnceAs502) {
  expect_crashes();
  start(1, 2);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(api("add&1&2").status, 200);
  EXPECT_EQ(api("test/crash").status, 502);  // nginx's answer; cppapi counts it the same way
  ASSERT_TRUE(wait_until([&] { return child_pids(master()).size() == 1; }));
  for (int i = 0; i < 2; ++i) ASSERT_EQ(api("add&1&2").status, 200);
  expect_total(6);
  const std::string page = metrics();
  EXPECT_EQ(metric(page, "cppapi_requests_total{call=\"test/crash\",status=\"502\"}"), 1) << page;
  EXPECT_EQ(metric(page, "cppapi_requests_total{call=\"add\",status=\"200\"}"), 5) << page;
  EXPECT_EQ(metric(page, "cppapi_request_duration_seconds_bucket{call=\"test/crash\",le=\"+Inf\"}"), 1);
  EXPECT_EQ(metric(page, "cppapi_worker_restarts_total{reason=\"crash\"}"), 1);
  EXPECT_EQ(status_json()["worker_restarts"], 1);
}

TEST_F(Status, CountsExactlyAcrossReloads) {
  start(2, 2);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(api("add&1&2").status, 200);
  const auto old = child_pids(master());
  cppapi_->process().signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] {
    const auto now = child_pids(master());
    return now.size() == 2 && std::none_of(now.begin(), now.end(), [&](pid_t pid) { return old.count(pid); });
  }));
  for (int i = 0; i < 5; ++i) ASSERT_EQ(api("add&1&2").status, 200);
  expect_total(10);
  const json status = status_json();
  EXPECT_EQ(status["generation"], 1);
  EXPECT_EQ(metric(metrics(), "cppapi_worker_restarts_total{reason=\"reload\"}"), 2);
}

TEST_F(Status, TimedOutRequestCountsOnceAs504) {
  start(1, 2, {"--request-timeout", "1", "--shutdown-timeout", "1"});
  ASSERT_EQ(api("add&1&2").status, 200);
  EXPECT_EQ(api("test/sleep&2500").status, 504);
  // The stuck handler finishes later in its abandoned thread (or dies with its worker): never counted again.
  std::this_thread::sleep_for(2s);
  ASSERT_EQ(api("add&1&2").status, 200);
  expect_total(3);
  const std::string page = metrics();
  EXPECT_EQ(metric(page, "cppapi_requests_total{call=\"test/sleep\",status=\"504\"}"), 1) << page;
  EXPECT_EQ(metric(page, "cppapi_requests_total{call=\"test/sleep\",status=\"200\"}"), 0) << page;
  EXPECT_EQ(metric(page, "cppapi_worker_restarts_total{reason=\"timeout\"}"), 1);
}

TEST_F(Status, ActiveIdleAndListenQueueWhileSaturatedAnswerWithin100ms) {
  constexpr int kProcesses = 2, kThreads = 2;
  start(kProcesses, kThreads);
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  const auto hold = [&](int count) {
    for (int i = 0; i < count; ++i) clients.emplace_back([&] { ok += api("test/sleep&2500").status == 200 ? 1 : 0; });
  };
  hold(3);  // M = 3 slow requests, spread over both processes
  ASSERT_TRUE(wait_until([&] { return status_json()["active_requests"] == 3; }, 2s)) << status_json().dump();
  EXPECT_EQ(status_json()["idle_threads"], 1);
  hold(1 + 3);  // every thread busy, and three more waiting in the kernel's queue
  ASSERT_TRUE(wait_until([&] { return status_json()["active_requests"] == 4; }, 2s)) << status_json().dump();
  EXPECT_EQ(status_json()["idle_threads"], 0);
  EXPECT_TRUE(wait_until([&] { return status_json()["listen_queue"] == 3; }, 2s)) << status_json().dump();
  EXPECT_GE(status_json()["max_listen_queue"].get<int>(), 3);

  std::vector<double> ms;
  for (int i = 0; i < 5; ++i) {
    const auto started = Clock::now();
    const HttpResponse reply = http("GET", url("/cppapi-status/status?json"));
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - started).count());
    EXPECT_EQ(reply.status, 200);
  }
  std::sort(ms.begin(), ms.end());
  std::cerr << "status while saturated: median " << ms[2] << " ms, worst " << ms.back() << " ms\n";
  EXPECT_LT(ms[2], 100.0);
  for (auto& client : clients) client.join();
  EXPECT_EQ(ok.load(), 7);
  EXPECT_EQ(status_json()["active_requests"], 0);
}

TEST_F(Status, AnswersWhileEveryWorkerIsBeingReplaced) {
  expect_crashes();
  start(1, 1);
  for (int crash = 0; crash < 4; ++crash) EXPECT_EQ(api("test/crash").status, 502);
  // The master now waits before starting a worker again (crash loop backoff): no worker at all.
  const HttpResponse ping = http("GET", url("/cppapi-status/ping"));
  EXPECT_EQ(ping.status, 200) << ping;
  // The master counts a restart when it reaps the worker, a moment after nginx's 502.
  EXPECT_TRUE(wait_until([&] { return status_json()["worker_restarts"].get<int>() >= 4; }))
      << status_json()["worker_restarts"];
}

TEST_F(Status, SlowLogShowsTheHandlersStack) {
  start(1, 2, {"--slowlog-threshold", "300ms"});
  ASSERT_EQ(api("test/sleep&900").status, 200);
  ASSERT_EQ(api("test/sleep&50").status, 200);  // under the threshold: not logged
  EXPECT_EQ(status_json()["slow_requests"], 1);
  const std::string log = cppapi_->log();
  const auto lines = grep_lines(log, {"slow request:"});
  ASSERT_EQ(lines.size(), 1u) << log;
  EXPECT_THAT(lines[0], HasSubstr("call test/sleep arguments \"900\""));
  EXPECT_THAT(lines[0], HasSubstr("in worker "));
  EXPECT_THAT(log, HasSubstr("nanosleep"));
  EXPECT_THAT(log, HasSubstr("cppapi::Dispatcher::handle"));
  EXPECT_EQ(metric(metrics(), "cppapi_slow_requests_total"), 1);
}

// ---- a real Prometheus

/// The first value of a Prometheus instant query, or nullopt while it has none.
std::optional<double> prometheus_query(int port, const std::string& query) {
  char* escaped = curl_easy_escape(nullptr, query.c_str(), static_cast<int>(query.size()));
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/api/v1/query?query=" + escaped;
  curl_free(escaped);
  const HttpResponse reply = http("GET", url);
  if (reply.status != 200) return std::nullopt;
  const json body = json::parse(reply.body, nullptr, false);
  if (body.is_discarded() || body["data"]["result"].empty()) return std::nullopt;
  return std::stod(body["data"]["result"][0]["value"][1].get<std::string>());
}

TEST_F(Status, PrometheusScrapesExactCountsAndPromtoolAcceptsThePage) {
  if (!fs::exists("/usr/bin/prometheus") || !fs::exists("/usr/bin/promtool"))
    GTEST_SKIP() << "Debian package prometheus not installed (deploy/install-deps.sh)";
  start(2, 2);
  ASSERT_EQ(api("add&1&2").status, 200);

  // promtool lints the Prometheus text format as served through nginx.
  write_file(dir_ / "metrics.txt", metrics());
  const std::string check = "/usr/bin/promtool check metrics < " + (dir_ / "metrics.txt").string() + " > " +
                            (dir_ / "promtool.log").string() + " 2>&1";
  EXPECT_EQ(std::system(check.c_str()), 0) << read_file(dir_ / "promtool.log");

  // Prometheus itself, scraping every second (it asks for OpenMetrics first, so that format is parsed too).
  const int port = free_port();
  write_file(dir_ / "prometheus.yml",
             "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
             "scrape_configs:\n  - job_name: cppapi\n"
             "    metrics_path: /cppapi-status/metrics\n"
             "    static_configs:\n      - targets: ['127.0.0.1:" +
                 std::to_string(nginx_->port()) + "']\n");
  Process prometheus(
      {"/usr/bin/prometheus", "--config.file=" + (dir_ / "prometheus.yml").string(),
       "--storage.tsdb.path=" + (dir_ / "tsdb").string(), "--web.listen-address=127.0.0.1:" + std::to_string(port)},
      dir_ / "prometheus.log");
  ASSERT_TRUE(wait_until([&] { return prometheus_query(port, "sum(cppapi_requests_total)").has_value(); }, 30s))
      << prometheus.log();
  const auto up = prometheus_query(port, "up{job=\"cppapi\"}");
  EXPECT_EQ(up, 1.0);
  const double baseline = *prometheus_query(port, "sum(cppapi_requests_total)");
  EXPECT_EQ(baseline, 1.0);
  const double t0 = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  constexpr int kRequests = 25;
  for (int i = 0; i < kRequests; ++i) ASSERT_EQ(api(i % 5 == 0 ? "nope" : "add&1&2").status, i % 5 == 0 ? 404 : 200);
  const std::string increase = "sum(cppapi_requests_total) - sum(cppapi_requests_total @ " + std::to_string(t0) + ")";
  EXPECT_TRUE(wait_until([&] { return prometheus_query(port, increase) == kRequests; }, 15s))
      << increase << " = " << prometheus_query(port, increase).value_or(-1) << "\n"
      << prometheus.log();
  // The histogram agrees.
  const std::string count_increase =
      "sum(cppapi_request_duration_seconds_count) - "
      "sum(cppapi_request_duration_seconds_count @ " +
      std::to_string(t0) + ")";
  EXPECT_EQ(prometheus_query(port, count_increase), kRequests);
  prometheus.stop();
}

// ---- the status listener itself, over raw FastCGI

/// A status request as nginx's fastcgi_params would send it for `/cppapi-status/<page>`.
std::string status_request(std::string_view page, bool keep, std::uint16_t id = 1) {
  return fcgi::request({{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/cppapi-status/" + std::string(page)}}, {}, id,
                       keep);
}

/// VmRSS of `pid` in bytes (0 if gone).
std::uint64_t vm_rss(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

/// A ping on a fresh connection: how long it took, and whether it said pong.
std::pair<bool, double> timed_ping(const fs::path& socket, std::chrono::milliseconds timeout) {
  const auto started = Clock::now();
  const FcgiSocket client = FcgiSocket::unix_socket(socket);
  if (!client.ok()) return {false, 0};
  const FcgiReply reply = fcgi_exchange(client, status_request("ping", false), timeout);
  return {reply.ended && reply.body == "pong",
          std::chrono::duration<double, std::milli>(Clock::now() - started).count()};
}

TEST_F(Status, PipelinedRequestsNobodyReadsCostBoundedMemory) {
  start(1, 1);
  const std::uint64_t before = vm_rss(master());
  ASSERT_GT(before, 0u);
  const FcgiSocket flood = FcgiSocket::unix_socket(status_socket_);
  ASSERT_TRUE(flood.ok());
  std::string bytes;
  for (int i = 0; i < 20'000; ++i) bytes += status_request("metrics", true);
  std::atomic<bool> stop{false};
  std::thread writer([&] {  // never reads; gives up when the master stops reading (or drops it)
    std::string_view left = bytes;
    while (!left.empty() && !stop.load()) {
      pollfd wait{flood.fd(), POLLOUT, 0};
      if (::poll(&wait, 1, 100) <= 0) continue;
      const ssize_t sent = ::send(flood.fd(), left.data(), left.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent < 0 && errno != EAGAIN) break;
      if (sent > 0) left.remove_prefix(static_cast<std::size_t>(sent));
    }
  });
  std::uint64_t peak = before;
  std::vector<double> pings;
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(300ms);
    peak = std::max(peak, vm_rss(master()));
    const auto [pong, ms] = timed_ping(status_socket_, 2s);
    EXPECT_TRUE(pong) << "ping " << i;
    pings.push_back(ms);
  }
  stop.store(true);
  writer.join();
  std::cerr << "master VmRSS " << before / 1024 << " KiB, peak " << peak / 1024 << " KiB\n";
  EXPECT_LT(peak - before, std::uint64_t{64} << 20) << "VmRSS grew from " << before << " to " << peak;
  EXPECT_EQ(::kill(master(), 0), 0) << "the master died";
  const auto [pong, ms] = timed_ping(status_socket_, 2s);
  EXPECT_TRUE(pong);
  EXPECT_LT(ms, 200.0);
  std::sort(pings.begin(), pings.end());
  EXPECT_LT(pings[pings.size() / 2], 200.0) << "median ping while flooded";
}

TEST_F(Status, IdleConnectionsCannotLockOthersOut) {
  start(1, 1);
  std::vector<FcgiSocket> idle;
  for (int i = 0; i < 64; ++i) {
    idle.push_back(FcgiSocket::unix_socket(status_socket_));
    ASSERT_TRUE(idle.back().ok()) << i;
  }
  std::this_thread::sleep_for(300ms);  // let the master accept them all (if it did not, the ping below is easier)
  const auto [pong, ms] = timed_ping(status_socket_, 2s);
  EXPECT_TRUE(pong);
  EXPECT_LT(ms, 1000.0);
}

TEST(StatusAsRoot, StatusSocketBelongsToTheSameUserAsTheMainSocket) {
  ASSERT_EQ(::geteuid(), 0u) << "run as root, as CI does";
  TempDir dir;
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec);
  const fs::path status_socket = dir / "st.sock";
  CppapiServer cppapi(
      dir,
      CppapiServer::Options{
          1, {"--user", "www-data", "--processes", "1", "--status-listen", "unix:" + status_socket.string()}, {}, 0});
  ASSERT_TRUE(wait_for_unix_socket(status_socket)) << cppapi.log();
  ASSERT_TRUE(wait_for_unix_socket(cppapi.socket())) << cppapi.log();
  struct stat main_info {
  }, status_info{};
  ASSERT_EQ(::stat(cppapi.socket().c_str(), &main_info), 0);
  ASSERT_EQ(::stat(status_socket.c_str(), &status_info), 0);
  const passwd* www_data = ::getpwnam("www-data");
  ASSERT_NE(www_data, nullptr);
  EXPECT_EQ(main_info.st_uid, www_data->pw_uid);
  EXPECT_EQ(status_info.st_uid, main_info.st_uid);
  EXPECT_EQ(status_info.st_gid, main_info.st_gid);
  EXPECT_EQ(status_info.st_mode & 0777, main_info.st_mode & 0777);

  // nginx's workers (www-data) reach it.
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  status_socket.string().copy(address.sun_path, sizeof address.sun_path - 1);
  const uid_t uid = www_data->pw_uid;
  const gid_t gid = www_data->pw_gid;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) ::_exit(100);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ::_exit(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 ? 0 : errno);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "connect as www-data: " << std::strerror(WEXITSTATUS(status));
}

TEST_F(Status, ConnectionOpenWhileAWorkerStartsStillEndsWithEof) {
  expect_crashes();
  start(1, 1);
  const FcgiSocket client = FcgiSocket::unix_socket(status_socket_);
  ASSERT_TRUE(client.ok());
  client.send(status_request("ping", true));  // accepted and answered: the master holds it now
  ASSERT_EQ(parse_reply(client.read_all(300ms)).body, "pong");
  const auto old = child_pids(master());
  EXPECT_EQ(api("test/crash").status, 502);
  ASSERT_TRUE(wait_until([&] {
    const auto now = child_pids(master());
    return now.size() == 1 && !old.count(*now.begin());
  }));
  bool eof = false;
  client.send(status_request("ping", false));
  const std::string bytes = client.read_all(2s, &eof);
  EXPECT_EQ(parse_reply(bytes).body, "pong");
  EXPECT_TRUE(eof) << "the master closed it, yet a worker forked meanwhile keeps it open";
}

TEST_F(Status, UnknownRoleGetsOneEndRequestThenEof) {
  start(1, 1);
  const FcgiSocket client = FcgiSocket::unix_socket(status_socket_);
  ASSERT_TRUE(client.ok());
  client.send(fcgi::begin(1, false, 2));  // AUTHORIZER, no KEEP_CONN
  bool eof = false;
  const std::string bytes = client.read_all(2s, &eof);
  EXPECT_TRUE(eof);
  ASSERT_EQ(bytes.size(), 16u) << "one END_REQUEST record and nothing else";
  EXPECT_EQ(static_cast<std::uint8_t>(bytes[1]), fcgi::kEnd);
  EXPECT_EQ(static_cast<std::uint8_t>(bytes[2]) << 8 | static_cast<std::uint8_t>(bytes[3]), 1);
  EXPECT_EQ(static_cast<std::uint8_t>(bytes[8 + 4]), 3) << "UNKNOWN_ROLE";
}

// ---- sd_notify

TEST(StatusNotify, ReadyStatusReloadingStoppingAndWatchdog) {
  TempDir dir;
  NotifyReceiver receiver(dir / "notify.sock");
  CppapiServer cppapi(
      dir,
      CppapiServer::Options{
          2, {"--processes", "2"}, {"NOTIFY_SOCKET=" + (dir / "notify.sock").string(), "WATCHDOG_USEC=400000"}, 0});
  const auto ready = receiver.wait_for("READY=1");
  ASSERT_TRUE(ready) << cppapi.log();
  EXPECT_TRUE(can_connect_unix(cppapi.socket()));
  const auto status = receiver.wait_for("STATUS=");
  ASSERT_TRUE(status);
  EXPECT_THAT(*status, HasSubstr("2 workers"));
  EXPECT_TRUE(receiver.wait_for("WATCHDOG=1", 2s));

  cppapi.process().signal(SIGHUP);
  const auto reloading = receiver.wait_for("RELOADING=1");
  ASSERT_TRUE(reloading);
  EXPECT_TRUE(std::regex_search(*reloading, std::regex("MONOTONIC_USEC=[0-9]+"))) << *reloading;
  EXPECT_TRUE(receiver.wait_for("READY=1"));
  // READY=1 says the reload is done: the new workers serve (not just that it began).
  EXPECT_THAT(cppapi.log(), HasSubstr("master: reloaded:"));

  cppapi.process().signal(SIGTERM);
  EXPECT_TRUE(receiver.wait_for("STOPPING=1"));
  EXPECT_EQ(cppapi.process().wait_exit(20s), (ExitStatus{0, 0}));
  // In that order, READY=1 first.
  const auto& all = receiver.messages();
  const auto index = [&](std::string_view needle) {
    return std::find_if(all.begin(), all.end(),
                        [&](const std::string& m) { return m.find(needle) != std::string::npos; }) -
           all.begin();
  };
  EXPECT_LT(index("READY=1"), index("RELOADING=1"));
  EXPECT_LT(index("RELOADING=1"), index("STOPPING=1"));
}

}  // namespace
}  // namespace cppapi::test
