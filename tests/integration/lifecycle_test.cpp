// SPDX-License-Identifier: MIT
// What docs/operations.md and docs/engine.md promise about signals, connections and the
// command line, each checked on a real cppapi: SIGHUP re-reads the config file (and keeps the
// workers on a bad one), SIGUSR1 reopens the log file in the master and every worker, a
// killed master takes its workers down after their requests, a second SIGTERM kills at once,
// idle_timeout closes an idle kept connection, a stalled connection holds no thread, and
// `cppapi calls` / `cppapi call` print what they say with the exit status they say.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fastcgi_client.hpp"
#include "harness.hpp"
#include "pool_support.hpp"

namespace cppapi::test {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

FcgiReply call_over(const fs::path& socket, const std::string& uri, std::chrono::milliseconds timeout = 10s) {
  return fcgi_exchange(FcgiSocket::unix_socket(socket), fcgi::request(fcgi::params_for("GET", uri)), timeout);
}

CppapiServer::Options with_args(int threads, std::vector<std::string> args) {
  CppapiServer::Options options;
  options.threads = threads;
  options.extra_args = std::move(args);
  return options;
}

// ---- SIGHUP

TEST(Reload, SighupRereadsTheConfigFile) {
  TempDir dir;
  const fs::path config = dir / "cppapi.toml";
  write_file(config, "max_arguments = 2\n");
  CppapiServer cppapi(dir, with_args(2, {"--processes", "1", "--config", config.string()}));
  EXPECT_EQ(call_over(cppapi.socket(), "/api/echo&a&b&c").status, 400) << "max_arguments = 2 not applied";

  write_file(config, "max_arguments = 3\n");
  const std::set<pid_t> before = child_pids(cppapi.process().pid());
  cppapi.process().signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return cppapi.log().find("master: reloaded") != std::string::npos; })) << cppapi.log();
  // The new generation serves with the new file; the old worker leaves.
  ASSERT_TRUE(wait_until([&] {
    const auto now = child_pids(cppapi.process().pid());
    return now.size() == 1 && !before.count(*now.begin());
  }));
  const FcgiReply reply = call_over(cppapi.socket(), "/api/echo&a&b&c");
  EXPECT_EQ(reply.status, 200) << reply.head << reply.body;
  cppapi.stop_and_check();
}

TEST(Reload, SighupWithABadConfigKeepsTheRunningWorkers) {
  TempDir dir;
  const fs::path config = dir / "cppapi.toml";
  write_file(config, "max_arguments = 2\n");
  CppapiServer cppapi(dir, with_args(2, {"--processes", "2", "--config", config.string()}));
  ASSERT_TRUE(wait_until([&] { return child_pids(cppapi.process().pid()).size() == 2; }));
  const std::set<pid_t> before = child_pids(cppapi.process().pid());

  write_file(config, "max_arguments = 3\nthreds = 8\n");
  cppapi.process().signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return cppapi.log().find("reload refused") != std::string::npos; })) << cppapi.log();
  EXPECT_THAT(cppapi.log(), HasSubstr("master: reload refused, the running workers stay: "));
  EXPECT_THAT(cppapi.log(), HasSubstr("threds: unknown key"));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(child_pids(cppapi.process().pid()), before) << "the workers were replaced after a bad reload";
  // Still the old settings: 3 arguments are too many.
  EXPECT_EQ(call_over(cppapi.socket(), "/api/echo&a&b&c").status, 400);
  EXPECT_EQ(call_over(cppapi.socket(), "/api/add&2&3").body, "5");
  cppapi.stop_and_check();
}

// ---- SIGUSR1

TEST(LogFile, Sigusr1ReopensTheLogInTheMasterAndEveryWorker) {
  TempDir dir;
  const fs::path log = dir / "app.log", rotated = dir / "app.log.1";
  CppapiServer cppapi(dir, with_args(1, {"--processes", "2", "--log-file", log.string()}));
  const pid_t master = cppapi.process().pid();
  ASSERT_TRUE(wait_until([&] { return child_pids(master).size() == 2; }));
  ASSERT_EQ(call_over(cppapi.socket(), "/api/add&2&3").body, "5");
  fs::rename(log, rotated);  // what logrotate does
  cppapi.process().signal(SIGUSR1);
  ASSERT_TRUE(wait_until([&] { return read_file(log).find("master: log file reopened") != std::string::npos; }))
      << "master did not reopen " << log;
  // Each worker writes its next lines to the new file: send requests until both have served one.
  std::set<std::string> served_by;
  ASSERT_TRUE(wait_until(
      [&] {
        call_over(cppapi.socket(), "/api/add&2&3");
        for (const pid_t worker : child_pids(master))
          if (read_file(log).find("[" + std::to_string(worker) + "] GET add 200") != std::string::npos)
            served_by.insert(std::to_string(worker));
        return served_by.size() == 2;
      },
      10s))
      << "new log:\n"
      << read_file(log);
  EXPECT_THAT(read_file(rotated), HasSubstr("GET add 200"));  // the line from before the rotation stayed there
  cppapi.stop_and_check();
  expect_no_crash_lines("app.log", read_file(log));
}

// ---- the master's end

TEST(Master, KilledMasterStopsItsWorkersAfterTheirRequests) {
  TempDir dir;
  CppapiServer cppapi(dir, with_args(2, {"--processes", "2"}));
  const pid_t master = cppapi.process().pid();
  ASSERT_TRUE(wait_until([&] { return child_pids(master).size() == 2; }));
  const std::set<pid_t> workers = child_pids(master);
  FcgiReply in_flight;
  std::thread client([&] { in_flight = call_over(cppapi.socket(), "/api/test/sleep&1000"); });
  std::this_thread::sleep_for(300ms);
  ::kill(master, SIGKILL);
  EXPECT_EQ(cppapi.process().wait_exit(5s), (ExitStatus{-1, SIGKILL}));
  client.join();
  EXPECT_EQ(in_flight.status, 200) << "the request in flight was lost with the master: " << in_flight.head;
  EXPECT_EQ(in_flight.body, "slept 1000");
  for (const pid_t worker : workers) EXPECT_TRUE(wait_until([&] { return pid_gone(worker); }, 5s)) << worker;
  expect_no_crash_lines("cppapi", cppapi.log());
}

// operations.md: "A second signal kills the workers at once"; the master then exits 1.
TEST(Master, SecondSigtermDuringAStopKillsTheWorkersAtOnce) {
  TempDir dir;
  CppapiServer cppapi(dir, with_args(2, {"--processes", "1"}));
  const pid_t master = cppapi.process().pid();
  ASSERT_TRUE(wait_until([&] { return child_pids(master).size() == 1; }));
  const pid_t worker = *child_pids(master).begin();
  FcgiReply in_flight;
  std::thread client([&] { in_flight = call_over(cppapi.socket(), "/api/test/sleep&8000", 15s); });
  std::this_thread::sleep_for(300ms);
  const auto start = Clock::now();
  cppapi.process().signal(SIGTERM);
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(pid_gone(worker)) << "the first SIGTERM did not wait for the request in flight";
  cppapi.process().signal(SIGTERM);
  EXPECT_EQ(cppapi.process().wait_exit(5s), (ExitStatus{1, 0})) << cppapi.log();
  EXPECT_LT(seconds_since(start), 3.0) << "the second SIGTERM did not cut the 8 s request short";
  client.join();
  EXPECT_FALSE(in_flight.ended) << "the killed request was answered";
  EXPECT_TRUE(pid_gone(worker));
  EXPECT_THAT(cppapi.log(), HasSubstr("master: SIGTERM again: killing the workers now"));
  EXPECT_THAT(cppapi.log(), HasSubstr("still running after it was told to stop: SIGKILL"));
  expect_no_crash_lines("cppapi", cppapi.log());
}

// ---- connections

// idle_timeout closes a kept connection that sits idle; without it the connection stays.
TEST(Connections, IdleTimeoutClosesAnIdleKeptConnection) {
  TempDir dir, other;
  CppapiServer short_idle(dir, with_args(1, {"--idle-timeout", "1"}));
  CppapiServer default_idle(other, with_args(1, {}));
  const std::string keep = fcgi::request(fcgi::params_for("GET", "/api/add&2&3"), {}, 1, /*keep=*/true);

  const FcgiSocket kept = FcgiSocket::unix_socket(short_idle.socket());
  ASSERT_TRUE(kept.send(keep));
  const auto start = Clock::now();
  bool eof = false;
  const FcgiReply reply = parse_reply(kept.read_all(5s, &eof));
  const double took = seconds_since(start);
  EXPECT_EQ(reply.body, "5");
  EXPECT_TRUE(eof) << "an idle kept connection was not closed within 5 s (idle_timeout 1 s)";
  EXPECT_GT(took, 0.8) << "closed before idle_timeout";

  const FcgiSocket control = FcgiSocket::unix_socket(default_idle.socket());
  ASSERT_TRUE(control.send(keep));
  const FcgiReply control_reply = parse_reply(control.read_all(2500ms, &eof));
  EXPECT_EQ(control_reply.body, "5");
  EXPECT_FALSE(eof) << "with the default idle_timeout (300 s) a kept connection closed at once";
  short_idle.stop_and_check();
  default_idle.stop_and_check();
}

// engine.md: "a stalled connection holds no thread": one thread, one request stalled in the
// middle of its parameters, and a good request on another connection is still answered at once.
TEST(Connections, AStalledConnectionHoldsNoThread) {
  TempDir dir;
  CppapiServer cppapi(dir, with_args(1, {"--read-timeout", "30"}));
  const std::string whole = fcgi::request(fcgi::params_for("GET", "/api/add&2&3"));
  const FcgiSocket stalled = FcgiSocket::unix_socket(cppapi.socket());
  ASSERT_TRUE(stalled.send(whole.substr(0, 30)));  // BEGIN_REQUEST and part of PARAMS, then silence
  std::this_thread::sleep_for(200ms);
  for (int i = 0; i < 3; ++i) {
    const auto start = Clock::now();
    const FcgiReply good = call_over(cppapi.socket(), "/api/add&2&3", 5s);
    EXPECT_EQ(good.body, "5") << "request " << i << " behind a stalled connection on the only thread";
    EXPECT_LT(seconds_since(start), 1.0) << "request " << i;
  }
  // The stalled one is still open (read_timeout is 30 s) and completes when the rest comes.
  ASSERT_TRUE(stalled.send(whole.substr(30)));
  EXPECT_EQ(parse_reply(stalled.read_all(5s)).body, "5");
  cppapi.stop_and_check();
}

// engine.md, "Leader and followers": a slow call holds up no other connection, whether it
// never ran before (the leader hands over before it starts) or ran fast the last time (the
// leader serves it itself and the monitor hands over after 2 ms).
TEST(Connections, ASlowCallHoldsUpNoOtherConnection) {
  TempDir dir;
  CppapiServer cppapi(dir, with_args(2, {"--processes", "0"}));  // one process: the fast call meets the slow one
  for (const bool ran_fast_before : {false, true}) {
    SCOPED_TRACE(ran_fast_before ? "test/sleep ran fast the last time" : "test/sleep never ran");
    if (ran_fast_before) ASSERT_EQ(call_over(cppapi.socket(), "/api/test/sleep&0").body, "slept 0");
    const FcgiSocket slow = FcgiSocket::unix_socket(cppapi.socket());
    ASSERT_TRUE(slow.send(fcgi::request(fcgi::params_for("GET", "/api/test/sleep&3000"))));
    std::this_thread::sleep_for(200ms);  // the slow call runs now
    const auto start = Clock::now();
    EXPECT_EQ(call_over(cppapi.socket(), "/api/add&2&3", 5s).body, "5");
    EXPECT_LT(seconds_since(start), 1.0) << "the fast call waited for the slow one";
    EXPECT_EQ(parse_reply(slow.read_all(10s)).body, "slept 3000");
  }
  cppapi.stop_and_check();
}

// A handler's child holds a copy of every socket of the process until it execs or exits, so
// closing a dropped connection does not take it out of the epoll set. It must be taken out
// anyway: an event for it afterwards pointed at freed memory (found by review; under ASan the
// worker died with heap-use-after-free, in other builds it was silent heap corruption).
TEST(Connections, AConnectionDroppedWhileAChildHoldsItBringsNoEventAfterwards) {
  TempDir dir;
  CppapiServer cppapi(dir, with_args(1, {}));
  const FcgiSocket held = FcgiSocket::unix_socket(cppapi.socket());
  // A kept request first: the connection then waits for the next one in the epoll set.
  ASSERT_TRUE(held.send(fcgi::request(fcgi::params_for("GET", "/api/add&2&3"), {}, 1, true)));
  std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(held.send(fcgi::request(fcgi::params_for("GET", "/api/test/fork_child&3000"), {}, 2, false)));
  std::string got;
  FcgiReply forked;
  for (const auto deadline = Clock::now() + 5s;
       forked.body.find("forked ") == std::string::npos && Clock::now() < deadline;) {
    pollfd readable{held.fd(), POLLIN, 0};
    if (::poll(&readable, 1, 100) <= 0) continue;
    char buffer[4096];
    const ssize_t n = ::recv(held.fd(), buffer, sizeof buffer, 0);
    if (n <= 0) break;
    got.append(buffer, static_cast<std::size_t>(n));
    forked = parse_reply(got);
  }
  ASSERT_NE(forked.body.find("forked "), std::string::npos) << "no reply to test/fork_child: " << got;
  // The reply asked for no kept connection: the responder has dropped it, and a request on
  // another connection lets the leader free it. The child still holds the socket, so this
  // side may still write, and each write is an event on the dropped connection.
  EXPECT_EQ(call_over(cppapi.socket(), "/api/add&2&3", 5s).body, "5");
  for (int i = 0; i < 5; ++i) {
    (void)held.send(fcgi::request(fcgi::params_for("GET", "/api/add&2&3"), {}, 1, false));
    EXPECT_EQ(call_over(cppapi.socket(), "/api/add&2&3", 5s).body, "5") << "after write " << i;
  }
  cppapi.stop_and_check();
}

// ---- the command line

/// `cppapi ARGS...`: its output (stdout and stderr) and how it ended.
std::pair<std::string, ExitStatus> run_cppapi(const TempDir& dir, std::vector<std::string> args) {
  args.insert(args.begin(), cppapi_binary().string());
  const fs::path out = dir / ("out" + std::to_string(free_port()) + ".txt");
  Process process(std::move(args), out, {{}, dir.path()});
  const auto status = process.wait_exit(10s);
  return {process.log(), status.value_or(ExitStatus{})};
}

TEST(CommandLine, CallsListsEveryBuiltInCallWithItsParameters) {
  TempDir dir;
  const auto [out, status] = run_cppapi(dir, {"calls"});
  EXPECT_EQ(status, (ExitStatus{0, 0})) << out;
  // The README's list (calls/), in order, then the test calls of this build (tests/calls/).
  EXPECT_THAT(out, HasSubstr("add(long a, long b)\n"
                             "echo(const cppapi::Args& args)\n"
                             "hello(std::optional<std::string> name)\n"
                             "notes/get(int id)\n"
                             "serverTime(const cppapi::Args& args)\n"));
  EXPECT_THAT(out, HasSubstr("test/inspect("));
  EXPECT_THAT(crash_lines(out), IsEmpty());
}

TEST(CommandLine, CallPrintsTheReplyAsAServerWouldAndExits1OnAnError) {
  TempDir dir;
  auto [out, status] = run_cppapi(dir, {"call", "add&2&x"});
  EXPECT_EQ(status, (ExitStatus{1, 0})) << out;
  // README, "Adding a call": the reply exactly as a server would send it, then a newline
  // for the terminal when the body does not end in one.
  EXPECT_EQ(out,
            "Status: 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 77\r\n\r\n"
            "{\"error\":\"argument 2: expected integer, got \\\"x\\\"\",\"status\":400,\"call\":\"add\"}\n");
  std::tie(out, status) = run_cppapi(dir, {"call", "add&2&3"});
  EXPECT_EQ(status, (ExitStatus{0, 0})) << out;
  EXPECT_THAT(out, ::testing::StartsWith("Status: 200 OK\r\n"));
  EXPECT_THAT(out, ::testing::EndsWith("\r\nContent-Length: 1\r\n\r\n5\n"));
  std::tie(out, status) = run_cppapi(dir, {"call", "nope"});
  EXPECT_EQ(status, (ExitStatus{1, 0})) << out;
  EXPECT_THAT(out, ::testing::StartsWith("Status: 404 Not Found\r\n"));
}

}  // namespace
}  // namespace cppapi::test
