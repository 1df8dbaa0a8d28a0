// SPDX-License-Identifier: MIT
// nginx keeping FastCGI connections to cppapi alive, from the shipped
// deploy/nginx/cppapi-keepalive.conf (`upstream { keepalive 32; }` + `fastcgi_keep_conn on`):
// connections are reused, more clients (and more kept connections) than threads never stall,
// and a worker that retires under load costs no request.
//
// How reuse is seen: after each of N sequential requests the test lists the unix sockets the
// cppapi processes hold (/proc/PID/fd, minus those held before the first request). A kept
// connection outlives its request, so the same single socket in every sample means all N
// requests went over one connection. Without FCGI_KEEP_CONN cppapi closes the connection after
// each reply, so a sample shows no connection or a new one each time; the KeepConnOff test
// checks that this signal does tell the two apart.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "pool_support.hpp"

namespace cppapi::test {
namespace {

using ::testing::IsEmpty;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// nginx.conf around the shipped site: the harness's globals, more worker_connections than
// the default template (a burst of 64 clients needs 64 client + 64 upstream connections).
// The shipped IPv6 listen line stays, on [::1]:`port6`.
std::string keepalive_nginx_config(bool keep_conn, int port6) {
  Substitutions site{{"server unix:/run/cppapi/cppapi.sock;", "server unix:@SOCKET@;"},
                     {"listen 80;", "listen 127.0.0.1:@PORT@;"},
                     {"listen [::]:80;", "listen [::1]:" + std::to_string(port6) + ";"},
                     {"root /var/www/cppapi;", "root \"@WWW@\";"}};
  if (!keep_conn) site.push_back({"fastcgi_keep_conn on;", "fastcgi_keep_conn off;"});
  return nginx_config(deploy_file("nginx/cppapi-keepalive.conf", site), 1024);
}

/// The inodes of the sockets process `pid` holds ("socket:[123]").
std::set<std::string> sockets_of(pid_t pid) {
  std::set<std::string> sockets;
  std::error_code ignored;
  for (const auto& entry : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ignored)) {
    const std::string target = fs::read_symlink(entry.path(), ignored).string();
    if (target.rfind("socket:[", 0) == 0) sockets.insert(target);
  }
  return sockets;
}

// Complaints that mean requests waited for a parked thread or found no backend.
const std::vector<std::string_view> kStallMessages{"upstream timed out", "prematurely closed", "no live upstreams"};

class KeepAlive : public ::testing::Test {
 protected:
  /// cppapi with `threads` threads (and `processes` workers under a master if > 0) behind
  /// nginx from the shipped keep-alive config (or that config with fastcgi_keep_conn off).
  void start(int threads, int processes = 0, std::vector<std::string> extra_args = {}, bool keep_conn = true) {
    if (processes > 0) extra_args.insert(extra_args.begin(), {"--processes", std::to_string(processes)});
    cppapi_.emplace(dir_, CppapiServer::Options{threads, std::move(extra_args), {}});
    if (processes > 0) {
      ASSERT_TRUE(wait_until([&] { return workers().size() == static_cast<std::size_t>(processes); }))
          << "workers: " << workers().size();
    }
    baseline_ = all_sockets();  // the listening socket and whatever else cppapi holds before any request
    nginx_.emplace(dir_, cppapi_->socket(), keepalive_nginx_config(keep_conn, port6_));
  }

  void TearDown() override { stop_and_check(nginx_, cppapi_); }

  std::set<pid_t> workers() { return child_pids(cppapi_->process().pid()); }

  std::set<std::string> all_sockets() {
    std::set<std::string> sockets = sockets_of(cppapi_->process().pid());
    for (const pid_t worker : workers()) sockets.merge(sockets_of(worker));
    return sockets;
  }

  /// The connections the cppapi processes hold right now (from nginx: nothing else connects).
  std::set<std::string> backend_connections() {
    std::set<std::string> connections;
    for (const auto& socket : all_sockets())
      if (!baseline_.count(socket)) connections.insert(socket);
    return connections;
  }

  std::string url(std::string_view call) const { return nginx_->url("/api/" + std::string(call)); }

  /// `count` sequential `add` requests: each must be a fast 200; returns the backend connections
  /// seen after each one.
  std::vector<std::set<std::string>> sequential_adds(int count) {
    std::vector<std::set<std::string>> seen;
    for (int i = 0; i < count; ++i) {
      const auto start_time = Clock::now();
      const auto reply = http("GET", url("add&" + std::to_string(i) + "&1000"));
      const double took = seconds_since(start_time);
      EXPECT_EQ(reply.status, 200) << "request " << i << ": " << reply;
      EXPECT_EQ(reply.body, std::to_string(i + 1000)) << "request " << i;
      EXPECT_LT(took, 1.0) << "request " << i << " stalled";
      seen.push_back(backend_connections());
    }
    return seen;
  }

  TempDir dir_;
  std::optional<CppapiServer> cppapi_;
  std::optional<NginxServer> nginx_;
  std::set<std::string> baseline_;
  int port6_ = free_port();  ///< the site's `listen [::]:80` line, on [::1]
};

/// "3 distinct connections over 20 requests, 17 samples without one" for messages.
std::string describe(const std::vector<std::set<std::string>>& seen) {
  std::set<std::string> distinct;
  std::size_t empty = 0;
  for (const auto& sample : seen) {
    distinct.insert(sample.begin(), sample.end());
    empty += sample.empty() ? 1 : 0;
  }
  std::ostringstream out;
  out << distinct.size() << " distinct backend connection(s) over " << seen.size() << " requests, " << empty
      << " sample(s) without an open one";
  return out.str();
}

/// True if one and the same connection was open after every request: they all used it.
bool one_connection_throughout(const std::vector<std::set<std::string>>& seen) {
  return !seen.empty() && seen.front().size() == 1 &&
         std::all_of(seen.begin(), seen.end(), [&](const auto& sample) { return sample == seen.front(); });
}

// ---- reuse

// engine = "libfcgi" refuses keep-alive (docs/engine.md): it closes every connection after
// its reply, so the same config gives one connection per request, and no request stalls.
TEST_F(KeepAlive, SequentialRequestsReuseOneConnection) {
  const bool refused = expected_engine() == "libfcgi";
  ASSERT_NO_FATAL_FAILURE(start(2));
  const auto seen = sequential_adds(20);
  EXPECT_EQ(one_connection_throughout(seen), !refused) << describe(seen);
  // The shipped site listens on IPv6 too; its calls go over the same kept connection.
  const auto over_ipv6 = http("GET", "http://[::1]:" + std::to_string(port6_) + "/api/add&20&22");
  EXPECT_EQ(over_ipv6.status, 200) << over_ipv6;
  EXPECT_EQ(over_ipv6.body, "42");
  if (!refused) {
    EXPECT_EQ(backend_connections(), seen.back()) << "the IPv6 request did not reuse the kept connection";
  }
  EXPECT_THAT(nginx_complaints(nginx_->error_log()), IsEmpty());
}

TEST_F(KeepAlive, SequentialRequestsReuseOneConnectionToAWorkerPool) {
  ASSERT_NO_FATAL_FAILURE(start(2, 2));
  const auto seen = sequential_adds(20);
  EXPECT_TRUE(one_connection_throughout(seen)) << describe(seen);
  EXPECT_THAT(nginx_complaints(nginx_->error_log()), IsEmpty());
}

// The control for the two tests above: the same config without fastcgi_keep_conn (nginx then
// never sets FCGI_KEEP_CONN) must show up as one connection per request.
TEST_F(KeepAlive, KeepConnOffOpensAConnectionPerRequest) {
  ASSERT_NO_FATAL_FAILURE(start(2, 0, {}, /*keep_conn=*/false));
  const auto seen = sequential_adds(20);
  EXPECT_FALSE(one_connection_throughout(seen)) << describe(seen);
}

// ---- more clients than threads

TEST_F(KeepAlive, SixteenClientsOnTwoThreadsMixingCallsAllSucceed) {
  constexpr int kClients = 16, kRequests = 10;
  ASSERT_NO_FATAL_FAILURE(start(2));
  std::mutex mutex;
  std::vector<std::string> failures;
  std::atomic<int> ok{0};
  const auto check = [&](bool good, const std::string& what, const HttpResponse& reply) {
    if (good) {
      ++ok;
      return;
    }
    std::ostringstream text;
    text << what << ": " << reply;
    const std::lock_guard lock(mutex);
    failures.push_back(text.str());
  };
  std::vector<std::thread> clients;
  const auto start_time = Clock::now();
  for (int c = 0; c < kClients; ++c)
    clients.emplace_back([&, c] {
      for (int r = 0; r < kRequests; ++r) {
        const std::string tag = "c" + std::to_string(c) + "r" + std::to_string(r);
        switch ((c + r) % 3) {
          case 0: {
            const auto reply = http("GET", url("test/sleep&20"));
            check(reply.status == 200 && reply.body == "slept 20", tag + " sleep", reply);
            break;
          }
          case 1: {
            const auto reply = http("GET", url("add&" + std::to_string(c) + "&" + std::to_string(r)));
            check(reply.status == 200 && reply.body == std::to_string(c + r), tag + " add", reply);
            break;
          }
          default: {
            // 100 KB, different for every request: a body that went to the wrong request shows.
            std::string body(100 * 1024, 'a' + static_cast<char>((c * kRequests + r) % 26));
            body.replace(0, tag.size(), tag);
            const auto reply = http("POST", url("test/inspect&" + tag), body, {"Content-Type: text/plain"});
            const auto seen = nlohmann::json::parse(reply.body, nullptr, false);
            check(reply.status == 200 && seen.is_object() && seen.value("body", "") == body &&
                      seen.value("args", nlohmann::json()) == nlohmann::json::array({tag}) &&
                      reply.content_length == reply.body.size(),
                  tag + " POST", reply);
          }
        }
      }
    });
  for (auto& client : clients) client.join();
  const double took = seconds_since(start_time);

  EXPECT_EQ(ok.load(), kClients * kRequests);
  EXPECT_THAT(failures, IsEmpty());
  EXPECT_LT(took, 10.0);
  const std::string error_log = nginx_->error_log();
  EXPECT_THAT(grep_lines(error_log, kStallMessages), IsEmpty());
  EXPECT_THAT(nginx_complaints(error_log), IsEmpty());
}

// 64 clients at once on 2 threads: nginx opens a connection per waiting request and keeps 32
// of them afterwards. Those idle connections outnumber the threads (with libfcgi every thread
// would now sit on one and the next requests would wait for fastcgi_read_timeout); here they
// cost nothing and the next requests are answered at once.
TEST_F(KeepAlive, BurstOfSixtyFourOnTwoThreadsThenIdleConnectionsCostNothing) {
  constexpr int kClients = 64;
  ASSERT_NO_FATAL_FAILURE(start(2));
  std::vector<HttpResponse> replies(kClients);
  std::vector<std::thread> clients;
  const auto start_time = Clock::now();
  for (int c = 0; c < kClients; ++c) clients.emplace_back([&, c] { replies[c] = http("GET", url("test/sleep&20")); });
  for (auto& client : clients) client.join();
  const double took = seconds_since(start_time);

  for (const auto& reply : replies) {
    EXPECT_EQ(reply.status, 200) << reply;
    EXPECT_EQ(reply.body, "slept 20") << reply;
  }
  EXPECT_LT(took, 8.0) << "64 x 20 ms on 2 threads is about 0.7 s";
  // nginx closes what it does not cache; cppapi drops those once it reads their EOF.
  std::size_t kept = 0;
  EXPECT_TRUE(wait_until([&] { return (kept = backend_connections().size()) <= 32; }, 5s))
      << kept << " connections open, more than nginx's keepalive 32";
  if (expected_engine() == "libfcgi") {  // keep-alive refused: every connection closed after its reply
    EXPECT_TRUE(wait_until([&] { return (kept = backend_connections().size()) == 0; }, 5s)) << kept << " kept";
  } else {
    EXPECT_GT(kept, 2u) << "fewer kept connections than threads: the burst did not exercise keep-alive";
  }

  sequential_adds(10);  // each < 1 s with `kept` idle connections around
  const std::string error_log = nginx_->error_log();
  EXPECT_THAT(grep_lines(error_log, kStallMessages), IsEmpty());
  EXPECT_THAT(nginx_complaints(error_log), IsEmpty());
}

// ---- a worker retiring under keep-alive load

// A retiring worker closes its kept connections; nginx finds out when it sends the next
// request on one and retries a GET on another connection. No client may see a failure.
TEST_F(KeepAlive, WorkerRecycleUnderGetLoadFailsNoRequest) {
  ASSERT_NO_FATAL_FAILURE(start(2, 2, {"--max-requests", "30"}));
  Load fast(url("add&2&3"), 3);
  Load slow(url("test/sleep&10"), 2);
  const bool enough = fast.wait_for(1000, 15s);
  slow.stop();
  fast.stop();
  ASSERT_TRUE(enough) << fast.failures();

  EXPECT_EQ(fast.failed() + slow.failed(), 0u) << fast.failures() << slow.failures();
  // nginx's retries must hide no loss and add no run: each reply a client got is exactly one
  // access line of cppapi (a GET replayed after it ran would show as one line too many).
  const auto lines = [&](std::string_view what) { return grep_lines(cppapi_->log(), {what}).size(); };
  EXPECT_TRUE(wait_until([&] { return lines("GET add 200") >= fast.ok(); }, 3s));
  EXPECT_EQ(lines("GET add 200"), fast.ok());
  EXPECT_EQ(lines("GET test/sleep 200"), slow.ok());
  const std::string log = cppapi_->log();
  // A retiring worker must close its kept connections, or nginx keeps reusing them and it never leaves.
  const std::size_t retired = grep_lines(log, {"retiring (served max_requests); starting its successor"}).size();
  EXPECT_GE(retired, 15u);
  for (const auto& line : grep_lines(log, {"stopped after "})) {
    const long served = std::stol(line.substr(line.find("stopped after ") + 14));
    EXPECT_LE(served, 60) << "a retiring worker went on serving: " << line;
  }
  auto problems = grep_lines(log, {"killed by", " error [", " warning ["});
  std::erase_if(problems, [](const std::string& line) { return line.find("running as root") != std::string::npos; });
  EXPECT_THAT(problems, IsEmpty());
  const std::string error_log = nginx_->error_log();
  EXPECT_THAT(grep_lines(error_log,
                         {"upstream timed out", "no live upstreams", "upstream sent", "[alert]", "[crit]", "[emerg]"}),
              IsEmpty());
  // Not failures: the lines nginx writes when a kept connection turned out closed and it retried.
  const auto retries = grep_lines(error_log, {"[error]"});
  std::cerr << fast.ok() + slow.ok() << " requests, " << retired << " workers retired, nginx retried " << retries.size()
            << " time(s) on a closed kept connection\n";
  for (const auto& line : retries) std::cerr << "  " << line << "\n";
}

// POSTs while workers retire: nginx does not replay a POST on a kept connection that turned
// out closed (deploy-nginx.md: "a POST that hits this narrow window gets a 502"). Whether the
// window is hit is up to timing; what must hold either way: every reply is a 200 or that 502,
// and cppapi ran each POST at most once: its access lines equal the client's 200s exactly.
TEST_F(KeepAlive, PostDuringWorkerRecycleIsAnsweredOrRefusedNeverReplayed) {
  ASSERT_NO_FATAL_FAILURE(start(2, 2, {"--max-requests", "30"}));
  constexpr int kClients = 3, kRequests = 120;
  std::atomic<int> ok{0}, bad_gateway{0};
  std::mutex mutex;
  std::vector<std::string> other;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c)
    clients.emplace_back([&, c] {
      for (int r = 0; r < kRequests; ++r) {
        const std::string tag = "c" + std::to_string(c) + "r" + std::to_string(r);
        const auto reply = http("POST", url("test/inspect&" + tag), "body " + tag, {"Content-Type: text/plain"});
        const auto seen = nlohmann::json::parse(reply.body, nullptr, false);
        if (reply.status == 200 && seen.is_object() && seen.value("body", "") == "body " + tag) {
          ++ok;
        } else if (reply.status == 502) {
          ++bad_gateway;
        } else {
          std::ostringstream text;
          text << tag << ": " << reply;
          const std::lock_guard lock(mutex);
          other.push_back(text.str());
        }
      }
    });
  for (auto& client : clients) client.join();
  EXPECT_THAT(other, IsEmpty());
  EXPECT_EQ(ok + bad_gateway + static_cast<int>(other.size()), kClients * kRequests);
  const auto ran = [&] { return grep_lines(cppapi_->log(), {"POST test/inspect 200"}).size(); };
  EXPECT_TRUE(wait_until([&] { return ran() >= static_cast<std::size_t>(ok.load()); }, 3s));
  EXPECT_EQ(ran(), static_cast<std::size_t>(ok.load())) << "a POST ran twice, or ran and its reply was lost";
  EXPECT_GE(grep_lines(cppapi_->log(), {"retiring (served max_requests)"}).size(), 5u);
  std::cerr << ok << " POSTs answered, " << bad_gateway << " refused with 502 (the documented window)\n";
}

// The same for a reload (SIGHUP): the old workers must leave although nginx keeps
// connections to them, and no GET may fail meanwhile.
TEST_F(KeepAlive, ReloadUnderGetLoadFailsNoRequest) {
  ASSERT_NO_FATAL_FAILURE(start(2, 2));
  Load load(url("add&2&3"), 4);
  ASSERT_TRUE(load.wait_for(50)) << load.failures();
  for (int reload = 0; reload < 2; ++reload) {
    const std::set<pid_t> old = workers();
    const auto sent = Clock::now();
    cppapi_->process().signal(SIGHUP);
    ASSERT_TRUE(wait_until(
        [&] {
          const auto now = workers();
          return now.size() == 2 && std::none_of(now.begin(), now.end(), [&](pid_t pid) { return old.count(pid); });
        },
        5s))
        << "reload " << reload << ": the old workers stayed";
    std::cerr << "reload " << reload << " took " << seconds_since(sent) << " s\n";
    ASSERT_TRUE(load.wait_for(50)) << load.failures();
  }
  load.stop();
  EXPECT_EQ(load.failed(), 0u) << load.failures();
  EXPECT_THAT(grep_lines(nginx_->error_log(),
                         {"upstream timed out", "no live upstreams", "upstream sent", "[alert]", "[crit]", "[emerg]"}),
              IsEmpty());
}

}  // namespace
}  // namespace cppapi::test
