// SPDX-License-Identifier: MIT
// engine = "libfcgi" where it differs from the event engine (docs/engine.md, "The libfcgi
// engine"): Debian's libfcgi aborts on the CVE-2025-23016 pattern and the master replaces
// the worker; a stop drains a slow request in flight; a silent connection holds a thread
// until read_timeout; kept connections are closed after each reply.
// The suites it shares with the event engine run again with CPPAPI_ENGINE=libfcgi (CMakeLists.txt).
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fastcgi_client.hpp"
#include "harness.hpp"
#include "pool_support.hpp"

namespace cppapi::test {
namespace {

using Clock = std::chrono::steady_clock;
using ::testing::HasSubstr;

CppapiServer::Options libfcgi(int threads, std::vector<std::string> more = {}) {
  CppapiServer::Options options;
  options.threads = threads;
  options.extra_args = {"--engine", "libfcgi"};
  options.extra_args.insert(options.extra_args.end(), more.begin(), more.end());
  return options;
}

/// CPPAPI_ENGINE=libfcgi for the test: what engine_problem() checks each cppapi log against.
class LibfcgiEngine : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* engine = std::getenv("CPPAPI_ENGINE")) saved_ = engine;
    ::setenv("CPPAPI_ENGINE", "libfcgi", 1);
  }
  void TearDown() override {
    if (saved_)
      ::setenv("CPPAPI_ENGINE", saved_->c_str(), 1);
    else
      ::unsetenv("CPPAPI_ENGINE");
  }

 private:
  std::optional<std::string> saved_;
};

FcgiReply add_over(const FcgiSocket& socket) {
  return fcgi_exchange(socket, fcgi::request(fcgi::params_for("GET", "/api/add&2&3")));
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

TEST_F(LibfcgiEngine, CvePatternAbortsTheWorkerAndTheMasterReplacesIt) {
  TempDir dir;
  CppapiServer cppapi(dir, libfcgi(2, {"--processes", "1"}));
  const pid_t master = cppapi.process().pid();
  ASSERT_TRUE(wait_until([&] { return child_pids(master).size() == 1; })) << cppapi.log();
  const std::set<pid_t> before = child_pids(master);
  EXPECT_EQ(add_over(FcgiSocket::unix_socket(cppapi.socket())).body, "5");

  const FcgiSocket attack = FcgiSocket::unix_socket(cppapi.socket());
  attack.send(fcgi::cve_2025_23016_request());
  bool eof = false;
  attack.read_all(5s, &eof);
  EXPECT_TRUE(eof) << "the attacked connection stayed open";
  ASSERT_TRUE(wait_until([&] {
    const auto now = child_pids(master);
    return now.size() == 1 && now != before;
  })) << "the worker was not replaced; log:\n"
      << last_lines(cppapi.log(), 20);
  EXPECT_THAT(cppapi.log(), HasSubstr("killed by SIGABRT")) << "the worker did not die of libfcgi's abort";
  EXPECT_EQ(add_over(FcgiSocket::unix_socket(cppapi.socket())).body, "5") << "the new worker does not serve";
  cppapi.stop_and_check({"killed by SIGABRT", "Assertion"});
}

// SIGTERM while a 1.5 s call runs: the call is answered, new connections are refused at
// once, and the process exits 0 as soon as the call is done.
TEST_F(LibfcgiEngine, SigtermDrainsASlowRequestInFlight) {
  TempDir dir;
  CppapiServer cppapi(dir, libfcgi(2));
  const FcgiSocket slow = FcgiSocket::unix_socket(cppapi.socket());
  slow.send(fcgi::request(fcgi::params_for("GET", "/api/test/sleep&1500")));
  std::this_thread::sleep_for(300ms);  // the call has begun
  const auto stop = Clock::now();
  cppapi.process().signal(SIGTERM);
  ASSERT_TRUE(wait_until([&] { return !FcgiSocket::unix_socket(cppapi.socket()).ok(); }, 1s))
      << "still accepting connections during the stop";
  const FcgiReply reply = parse_reply(slow.read_all(5s));
  EXPECT_EQ(reply.status, 200) << reply.head;
  EXPECT_TRUE(reply.ended);
  const auto status = cppapi.process().wait_exit(5s);
  ASSERT_TRUE(status.has_value()) << "did not exit after draining";
  EXPECT_EQ(*status, (ExitStatus{0, 0}));
  EXPECT_LT(seconds_since(stop), 2.5) << "the stop took longer than the call in flight";
  EXPECT_THAT(cppapi.log(), HasSubstr("GET test/sleep 200"));
  EXPECT_THAT(cppapi.log(), HasSubstr("stopped after 1 requests"));
  EXPECT_THAT(crash_lines(cppapi.log()), ::testing::IsEmpty());
  EXPECT_EQ(engine_problem(cppapi.log()), "");
}

// A connection that sends nothing holds the only thread (the event engine's would not)
// until read_timeout, 1 s here (SO_RCVTIMEO, set at accept), then for up to 2 s more
// while libfcgi closes it (it waits for the peer to close first); then the next
// connection is served. The same on TCP and on a unix socket (the engine accepts itself:
// libfcgi's own 2 s wait for a first byte on unix sockets never runs).
void expect_silent_connection_holds_the_thread_for_read_timeout(const std::function<FcgiSocket()>& connect) {
  const FcgiSocket silent = connect();
  std::this_thread::sleep_for(100ms);  // taken by the thread first
  const auto start = Clock::now();
  const FcgiReply reply = add_over(connect());
  const double waited = seconds_since(start);
  EXPECT_EQ(reply.body, "5");
  EXPECT_GT(waited, 0.7) << "the silent connection held no thread: this is the event engine's behaviour";
  EXPECT_LT(waited, 3.6) << "read_timeout did not free the thread";
  bool eof = false;
  silent.read_all(1s, &eof);
  EXPECT_TRUE(eof) << "the silent connection was not closed";
}

TEST_F(LibfcgiEngine, ASilentTcpConnectionHoldsAThreadForReadTimeout) {
  TempDir dir;
  CppapiServer::Options options = libfcgi(1, {"--read-timeout", "1"});
  options.tcp_port = free_port();
  CppapiServer cppapi(dir, options);
  expect_silent_connection_holds_the_thread_for_read_timeout([&] { return FcgiSocket::tcp(options.tcp_port); });
  cppapi.stop_and_check();
}

TEST_F(LibfcgiEngine, ASilentUnixConnectionHoldsAThreadForReadTimeout) {
  TempDir dir;
  CppapiServer cppapi(dir, libfcgi(1, {"--read-timeout", "1"}));
  expect_silent_connection_holds_the_thread_for_read_timeout([&] { return FcgiSocket::unix_socket(cppapi.socket()); });
  cppapi.stop_and_check();
}

// FCGI_KEEP_CONN is not honoured: the reply is whole, then the connection is closed, so a
// kept connection never parks a thread in read().
TEST_F(LibfcgiEngine, AKeptConnectionIsClosedAfterItsReply) {
  TempDir dir;
  CppapiServer cppapi(dir, libfcgi(1));
  const FcgiSocket kept = FcgiSocket::unix_socket(cppapi.socket());
  kept.send(fcgi::request(fcgi::params_for("GET", "/api/add&2&3"), {}, 1, true));
  bool eof = false;
  const FcgiReply reply = parse_reply(kept.read_all(3s, &eof));
  EXPECT_EQ(reply.body, "5");
  EXPECT_TRUE(reply.ended);
  EXPECT_TRUE(eof) << "the kept connection stayed open: the only thread would wait on it";
  const auto start = Clock::now();  // `kept` still open on our side: closing it waited for nothing
  EXPECT_EQ(add_over(FcgiSocket::unix_socket(cppapi.socket())).body, "5");
  EXPECT_LT(seconds_since(start), 0.5) << "the thread was still busy with the kept connection";
  EXPECT_THAT(cppapi.log(), HasSubstr("engine libfcgi closes each after its reply")) << "no warning at the first";
  cppapi.stop_and_check();
}

}  // namespace
}  // namespace cppapi::test
