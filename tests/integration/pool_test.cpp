// SPDX-License-Identifier: MIT
// The process pool with real processes, real signals and real load through nginx on
// loopback: a killed worker, reload, stop, recycling, the timeout watchdog, queueing,
// and the modes where someone else starts cppapi (spawn-fcgi, systemd, CGI).
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
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

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

/// cppapi with a master (`--processes N`) behind nginx, in a temp dir of its own.
class Pool : public ::testing::Test {
 protected:
  /// Returns once every worker serves (READY=1, as systemd would wait for it): a worker that
  /// exists may still be starting, and one told to stop then ends without accepting.
  void start(int processes, int threads, std::vector<std::string> extra_args = {}) {
    extra_args.insert(extra_args.begin(), {"--processes", std::to_string(processes)});
    cppapi_.emplace(dir_, CppapiServer::Options{threads, std::move(extra_args), {"NOTIFY_SOCKET=" + notify_.string()}});
    nginx_.emplace(dir_, cppapi_->socket());
    ASSERT_TRUE(notify_receiver_.wait_for("READY=1", 20s)) << cppapi_->log();
    ASSERT_TRUE(wait_until([&] { return workers().size() == static_cast<std::size_t>(processes); }))
        << "workers: " << workers().size();
  }

  void TearDown() override { stop_and_check(nginx_, cppapi_, expected_crash_lines_); }

  pid_t master() { return cppapi_->process().pid(); }
  std::set<pid_t> workers() { return child_pids(master()); }
  std::string url(std::string_view call) const { return nginx_->url("/api/" + std::string(call)); }
  std::vector<std::string> nginx_complaints_now() const { return nginx_complaints(nginx_->error_log()); }

  TempDir dir_;
  fs::path notify_ = dir_ / "notify.sock";
  NotifyReceiver notify_receiver_{notify_};
  std::optional<CppapiServer> cppapi_;
  std::optional<NginxServer> nginx_;
  std::vector<std::string> expected_crash_lines_;  ///< crashes a test causes on purpose
};

TEST_F(Pool, KilledWorkerIsReplacedAndOnlyItsRequestsFail) {
  constexpr int kThreads = 2;
  start(2, kThreads);
  Load load(url("test/sleep&50"), 4);
  ASSERT_TRUE(load.wait_for(20)) << load.failures();
  const std::set<pid_t> before = workers();
  const pid_t victim = *before.begin();
  ASSERT_EQ(::kill(victim, SIGKILL), 0);

  ASSERT_TRUE(wait_until([&] {
    const auto now = workers();
    return now.size() == 2 && !now.count(victim);
  })) << "the killed worker was not replaced";
  // The dead worker's requests fail through nginx, which may take longer than the
  // replacement on a busy machine (seen at load average 9): let them arrive first.
  std::this_thread::sleep_for(300ms);
  const auto failed_by_kill = load.failed();
  ASSERT_TRUE(load.wait_for(60)) << load.failures();
  load.stop();
  EXPECT_LE(failed_by_kill, static_cast<std::uint64_t>(kThreads)) << "more failures than the dead worker's threads\n"
                                                                  << load.failures();
  EXPECT_EQ(load.failed(), failed_by_kill) << "failures after the replacement\n" << load.failures();
  EXPECT_THAT(cppapi_->log(), HasSubstr("worker " + std::to_string(victim) + " killed by SIGKILL; starting a new one"));
}

TEST_F(Pool, WorkersDyingInALoopAreRestartedWithBackoff) {
  start(1, 1);
  expected_crash_lines_ = {"killed by SIGABRT"};  // test/crash aborts its worker
  for (int crash = 0; crash < 5; ++crash) {
    const auto reply = http("GET", url("test/crash"));
    EXPECT_EQ(reply.status, 502) << reply;  // nginx: the worker died mid-request
  }
  const auto start_time = Clock::now();
  const auto next = http("GET", url("add&2&3"));
  EXPECT_EQ(next.status, 200) << next;
  EXPECT_LT(seconds_since(start_time), 6.0);
  const std::string log = cppapi_->log();
  EXPECT_EQ(grep_lines(log, {"killed by SIGABRT"}).size(), 5u);
  EXPECT_THAT(log, HasSubstr("workers in a row died within 1000 ms of starting: next start in"));
}

TEST_F(Pool, ReloadUnderLoadFailsNoRequest) {
  start(2, 2);
  Load slow(url("test/sleep&30"), 3);
  Load fast(url("add&2&3"), 3);
  ASSERT_TRUE(fast.wait_for(50)) << fast.failures();
  for (int reload = 0; reload < 3; ++reload) {
    const std::set<pid_t> old = workers();
    cppapi_->process().signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] {
      const auto now = workers();
      return now.size() == 2 && std::none_of(now.begin(), now.end(), [&](pid_t pid) { return old.count(pid); });
    })) << "reload "
        << reload << " did not replace the workers";
    ASSERT_TRUE(slow.wait_for(10)) << slow.failures();
  }
  slow.stop();
  fast.stop();
  EXPECT_EQ(slow.failed() + fast.failed(), 0u) << slow.failures() << fast.failures();
  EXPECT_GT(slow.ok() + fast.ok(), 100u);
  EXPECT_THAT(nginx_complaints_now(), IsEmpty());
}

TEST_F(Pool, StopFinishesRequestsInFlightAndLeavesNothing) {
  start(2, 2);
  const std::set<pid_t> worker_pids = workers();
  std::vector<HttpResponse> replies(4);
  std::vector<std::thread> clients;
  for (auto& reply : replies) clients.emplace_back([&] { reply = http("GET", url("test/sleep&1500")); });
  std::this_thread::sleep_for(400ms);  // all four handlers are sleeping now
  const auto stop_sent = Clock::now();
  cppapi_->process().signal(SIGTERM);
  const auto status = cppapi_->process().wait_exit(10s);
  const double stop_took = seconds_since(stop_sent);
  for (auto& client : clients) client.join();

  EXPECT_EQ(status, (ExitStatus{0, 0}));
  EXPECT_GT(stop_took, 0.8) << "the master did not wait for the requests";
  for (const auto& reply : replies) {
    EXPECT_EQ(reply.status, 200) << reply;
    EXPECT_EQ(reply.body, "slept 1500") << reply;
  }
  EXPECT_FALSE(fs::exists(cppapi_->socket())) << "socket file left behind";
  for (const pid_t pid : worker_pids) EXPECT_TRUE(pid_gone(pid)) << "worker " << pid << " still running";
}

TEST_F(Pool, MaxRequestsRecyclesWorkersWithoutAFailedRequest) {
  start(2, 2, {"--max-requests", "25"});
  Load slow(url("test/sleep&10"), 3);
  Load fast(url("add&2&3"), 3);
  ASSERT_TRUE(fast.wait_for(300, 15s)) << fast.failures();
  slow.stop();
  fast.stop();
  EXPECT_EQ(slow.failed() + fast.failed(), 0u) << slow.failures() << fast.failures();
  EXPECT_GE(grep_lines(cppapi_->log(), {"retiring (served max_requests); starting its successor"}).size(), 8u);
  auto problems = grep_lines(cppapi_->log(), {"killed by", "warning", "error"});
  // The harness runs as root with --user root, which is logged as a warning on purpose.
  std::erase_if(problems, [](const std::string& line) {
    return line.find("running as root (--user root)") != std::string::npos;
  });
  EXPECT_THAT(problems, IsEmpty());
  EXPECT_THAT(nginx_complaints_now(), IsEmpty());
}

TEST_F(Pool, ProcessesTimesThreadsRunAtOnceAndOneMoreWaitsInTheQueue) {
  constexpr int kProcesses = 2, kThreads = 2, kAtOnce = kProcesses * kThreads;
  start(kProcesses, kThreads);
  std::vector<HttpResponse> replies(kAtOnce + 1);
  std::vector<double> took(replies.size());
  std::vector<std::thread> clients;
  const auto start_time = Clock::now();
  for (std::size_t i = 0; i < replies.size(); ++i)
    clients.emplace_back([&, i] {
      replies[i] = http("GET", url("test/sleep&1000"));
      took[i] = seconds_since(start_time);
    });
  for (auto& client : clients) client.join();

  for (const auto& reply : replies) EXPECT_EQ(reply.status, 200) << reply;
  std::sort(took.begin(), took.end());
  EXPECT_LT(took[kAtOnce - 1], 1.6) << "the first " << kAtOnce << " did not run at once";
  EXPECT_GT(took[kAtOnce], 1.9) << "the extra request did not wait for a free thread";
  EXPECT_LT(took[kAtOnce], 3.0) << "the extra request waited too long";
}

TEST_F(Pool, RequestTimeoutAnswers504AndReplacesTheWorker) {
  start(1, 2, {"--request-timeout", "2"});
  const pid_t first_worker = *workers().begin();
  HttpResponse stuck, neighbour;
  double stuck_took = 0;
  const auto start_time = Clock::now();
  // The stuck handler returns at 2.3 s, while its worker still waits for the neighbour
  // (1.0 s + 1.45 s, well inside the 2 s limit): by then the watchdog has answered, so it
  // must write nothing.
  std::thread stuck_client([&] {
    stuck = http("GET", url("test/sleep&2300"));
    stuck_took = seconds_since(start_time);
  });
  std::this_thread::sleep_for(1s);
  std::thread neighbour_client([&] { neighbour = http("GET", url("test/sleep&1450")); });  // same worker, in time
  stuck_client.join();
  neighbour_client.join();

  EXPECT_EQ(stuck.status, 504) << stuck;
  EXPECT_EQ(stuck.header("content-type"), "application/json") << stuck;
  EXPECT_EQ(stuck.content_length, stuck.body.size()) << stuck;
  const auto body = nlohmann::json::parse(stuck.body, nullptr, false);
  EXPECT_TRUE(body.is_object() && body.value("status", 0) == 504) << stuck;
  EXPECT_GT(stuck_took, 1.9);
  EXPECT_LT(stuck_took, 2.5);
  EXPECT_EQ(neighbour.status, 200) << "a request in flight on the retiring worker was lost: " << neighbour;

  const auto next = http("GET", url("add&2&3"));
  EXPECT_EQ(next.status, 200) << next;
  EXPECT_EQ(next.body, "5");
  EXPECT_TRUE(wait_until([&] { return pid_gone(first_worker); }, 5s)) << "the worker with the stuck handler stayed";
  EXPECT_EQ(workers().size(), 1u);
  const std::string log = cppapi_->log();
  EXPECT_THAT(log, HasSubstr("retiring (a handler timed out)"));
  EXPECT_EQ(grep_lines(log, {"GET test/sleep 200"}).size(), 1u) << "the timed-out handler answered too";
  EXPECT_THAT(grep_lines(log, {"request failed", "killed by"}), IsEmpty());
  EXPECT_THAT(nginx_complaints_now(), IsEmpty());
}

TEST_F(Pool, ClientsThatLeaveNeverKillAWorker) {
  start(1, 2);
  const std::set<pid_t> before = workers();
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i)
    clients.emplace_back([&] { request_and_leave(nginx_->port(), "/api/test/blob&4000000", 5ms); });
  for (auto& client : clients) client.join();
  // The requests did reach cppapi (else this would test nothing): one access line each,
  // written when the handler's reply was sent or failed to be sent.
  EXPECT_TRUE(wait_until([&] { return grep_lines(cppapi_->log(), {"GET test/blob "}).size() == 4; }, 10s))
      << "access lines for test/blob: " << grep_lines(cppapi_->log(), {"GET test/blob "}).size() << "\n"
      << cppapi_->log();
  const auto next = http("GET", url("add&2&3"));
  EXPECT_EQ(next.status, 200) << next;
  EXPECT_EQ(workers(), before);
}

// ---- modes where another program starts cppapi

/// The replies of `calls` sent at once through `nginx`, and the wall time they took.
std::pair<std::vector<HttpResponse>, double> at_once(const NginxServer& nginx, const std::vector<std::string>& calls) {
  std::vector<HttpResponse> replies(calls.size());
  std::vector<std::thread> clients;
  const auto start_time = Clock::now();
  for (std::size_t i = 0; i < calls.size(); ++i)
    clients.emplace_back([&, i] { replies[i] = http("GET", nginx.url("/api/" + calls[i])); });
  for (auto& client : clients) client.join();
  return {replies, seconds_since(start_time)};
}

std::vector<pid_t> read_pids(const fs::path& file) {
  std::vector<pid_t> pids;
  std::istringstream lines(read_file(file));
  for (pid_t pid; lines >> pid;) pids.push_back(pid);
  return pids;
}

TEST(Spawned, SpawnFcgiForkedChildrenServeWithThreadsBehindNginx) {
  TempDir dir;
  const fs::path socket = dir / "cppapi.sock", pid_file = dir / "spawn.pid", log = dir / "cppapi.log";
  Process spawner({"/usr/bin/spawn-fcgi", "-F", "2", "-s", socket.string(), "-M", "0660", "-P", pid_file.string(), "--",
                   cppapi_binary().string()},
                  dir / "spawn-fcgi.log", {{"CPPAPI_THREADS=2", "CPPAPI_LOG_FILE=" + log.string()}, dir.path()});
  ASSERT_EQ(spawner.wait_exit(10s), (ExitStatus{0, 0})) << spawner.log();
  const std::vector<pid_t> children = read_pids(pid_file);
  ASSERT_EQ(children.size(), 2u) << read_file(pid_file);
  // spawn-fcgi has left; its children are nobody's to reap here: stop them by PID whatever happens.
  const auto stop_children = [&] {
    for (const pid_t pid : children) ::kill(pid, SIGTERM);
    return wait_until([&] { return std::all_of(children.begin(), children.end(), pid_gone); }, 10s);
  };
  struct Guard {
    std::function<bool()> stop;
    std::function<std::string()> log;
    ~Guard() {
      if (!stop()) ADD_FAILURE() << "spawned children did not stop on SIGTERM";
      expect_no_crash_lines("spawned children", log());  // not our children: no exit status to see
    }
  } guard{stop_children, [&] { return read_file(log); }};

  NginxServer nginx(dir, socket);
  const auto [replies, took] =
      at_once(nginx, {"test/sleep&1500", "test/sleep&1500", "test/sleep&1500", "test/sleep&1500"});
  for (const auto& reply : replies) EXPECT_EQ(reply.status, 200) << reply;
  EXPECT_LT(took, 2.4) << "2 children x 2 threads did not serve 4 requests at once (two rounds take 3 s)";
  EXPECT_THAT(read_file(log), HasSubstr("mode: spawned"));
  for (const pid_t pid : children)
    EXPECT_THAT(read_file(log), HasSubstr("[" + std::to_string(pid) + "] GET test/sleep 200"));
}

TEST(Spawned, SpawnFcgiNoForkExecsCppapiInItsOwnPid) {
  TempDir dir;
  const fs::path socket = dir / "cppapi.sock";
  Process cppapi({"/usr/bin/spawn-fcgi", "-n", "-s", socket.string(), "-M", "0660", "--", cppapi_binary().string()},
                 dir / "cppapi.log", {{"CPPAPI_THREADS=2"}, dir.path()});
  ASSERT_TRUE(wait_until([&] { return cppapi.log().find("cppapi: serving") != std::string::npos; })) << cppapi.log();
  NginxServer nginx(dir, socket);
  const auto reply = http("GET", nginx.url("/api/add&2&3"));
  EXPECT_EQ(reply.status, 200) << reply;
  EXPECT_EQ(reply.body, "5");
  nginx.stop();
  expect_clean_stop(cppapi, "cppapi (spawn-fcgi -n)");
  EXPECT_THAT(cppapi.log(), HasSubstr("mode: spawned"));
}

TEST(SocketActivated, SystemdSocketActivateRunsTheMaster) {
  const fs::path activate = "/usr/bin/systemd-socket-activate";
  ASSERT_TRUE(fs::exists(activate)) << activate
                                    << " is missing: it comes with Debian's package systemd, which "
                                       "deploy/install-deps.sh installs";
  TempDir dir;
  const fs::path socket = dir / "cppapi.sock";
  // systemd-socket-activate passes on only what -E names: the engine of this run too.
  Process cppapi({activate.string(), "-l", socket.string(), "-E", "CPPAPI_PROCESSES=2", "-E", "CPPAPI_THREADS=2", "-E",
                  "CPPAPI_ENGINE=" + expected_engine(), cppapi_binary().string()},
                 dir / "cppapi.log", {{}, dir.path()});
  ASSERT_TRUE(wait_for_unix_socket(socket)) << cppapi.log();
  NginxServer nginx(dir, socket);
  const auto [replies, took] =
      at_once(nginx, {"test/sleep&1500", "test/sleep&1500", "test/sleep&1500", "test/sleep&1500"});
  for (const auto& reply : replies) EXPECT_EQ(reply.status, 200) << reply;
  EXPECT_LT(took, 2.4) << "2 workers x 2 threads did not serve 4 requests at once (two rounds take 3 s)";
  EXPECT_EQ(child_pids(cppapi.pid()).size(), 2u);
  EXPECT_THAT(cppapi.log(), HasSubstr("mode: socket-activated"));
  nginx.stop();
  expect_clean_stop(cppapi, "cppapi (socket-activated)");
}

TEST(Cgi, AnswersTheOneRequestInItsEnvironment) {
  TempDir dir;
  // The web server's side of CGI: the request in the environment, the body on stdin.
  Process cgi(
      {"/bin/sh", "-c", "printf '%s' \"$BODY\" | exec \"$CPPAPI\""}, dir / "reply.txt",
      {{"CPPAPI=" + cppapi_binary().string(), "BODY=h\xC3\xA9llo", "GATEWAY_INTERFACE=CGI/1.1", "REQUEST_METHOD=POST",
        "REQUEST_URI=/api/test/inspect&a%26b", "CONTENT_LENGTH=6", "CONTENT_TYPE=text/plain", "REMOTE_ADDR=127.0.0.1"},
       dir.path()});
  ASSERT_EQ(cgi.wait_exit(10s), (ExitStatus{0, 0})) << cgi.log();
  const std::string reply = cgi.log();
  const auto blank = reply.find("\r\n\r\n");
  ASSERT_NE(blank, std::string::npos) << reply;
  const std::string head = reply.substr(0, blank + 2), body = reply.substr(blank + 4);
  EXPECT_THAT(head, HasSubstr("Status: 200 OK\r\n"));
  EXPECT_THAT(head, HasSubstr("Content-Length: " + std::to_string(body.size()) + "\r\n"));
  const auto seen = nlohmann::json::parse(body, nullptr, false);
  ASSERT_TRUE(seen.is_object()) << body;
  EXPECT_EQ(seen["body"], "h\xC3\xA9llo");
  EXPECT_EQ(seen["args"], nlohmann::json::array({"a&b"}));
}

}  // namespace
}  // namespace cppapi::test
