// SPDX-License-Identifier: MIT
// The FastCGI engine at its limits, over raw FastCGI (no front server): out of file
// descriptors, the connection cap, connections that never send a byte, clients that read
// a large reply slowly or not at all, and refusals that must close the connection.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fastcgi_client.hpp"
#include "harness.hpp"

namespace cppapi::test {
namespace {

using Clock = std::chrono::steady_clock;

std::string get(std::string_view call, bool keep = false, std::uint16_t id = 1) {
  return fcgi::request(fcgi::params_for("GET", "/api/" + std::string(call)), {}, id, keep);
}

/// utime + stime of `pid`, in seconds.
double cpu_seconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  long ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i)
    if (i >= 14) ticks += std::stol(field);  // fields 14 and 15: utime, stime
  return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// Reads one whole reply (until END_REQUEST) within `timeout`.
FcgiReply read_reply(const FcgiSocket& socket, std::chrono::milliseconds timeout) {
  std::string got;
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd wait{socket.fd(), POLLIN, 0};
    if (::poll(&wait, 1, static_cast<int>(left.count())) <= 0) break;
    char buffer[65536];
    const ssize_t n = ::recv(socket.fd(), buffer, sizeof buffer, 0);
    if (n <= 0) break;
    got.append(buffer, static_cast<std::size_t>(n));
    if (parse_reply(got).ended) break;
  }
  return parse_reply(got);
}

/// Reads everything until EOF at about `bytes_per_second`, in small steps.
std::string read_slowly(const FcgiSocket& socket, std::size_t bytes_per_second, std::chrono::seconds limit) {
  std::string got;
  const auto deadline = Clock::now() + limit;
  constexpr std::size_t kStep = 65536;
  const auto pause = std::chrono::microseconds(1'000'000 * kStep / bytes_per_second);
  char buffer[kStep];
  while (Clock::now() < deadline) {
    pollfd wait{socket.fd(), POLLIN, 0};
    if (::poll(&wait, 1, 1000) <= 0) continue;
    const ssize_t n = ::recv(socket.fd(), buffer, sizeof buffer, 0);
    if (n <= 0) break;
    got.append(buffer, static_cast<std::size_t>(n));
    std::this_thread::sleep_for(pause);
  }
  return got;
}

class EngineLimits : public ::testing::Test {
 protected:
  void start(int threads, std::vector<std::string> extra_args = {}) {
    cppapi_.emplace(dir_, CppapiServer::Options{threads, std::move(extra_args), {}});
  }
  FcgiSocket connect() const { return FcgiSocket::unix_socket(cppapi_->socket()); }
  void expect_served(const FcgiSocket& socket, std::chrono::milliseconds within = 2s) {
    ASSERT_TRUE(socket.ok());
    ASSERT_TRUE(socket.send(get("add&2&3")));
    const FcgiReply reply = read_reply(socket, within);
    EXPECT_EQ(reply.status, 200) << cppapi_->log();
    EXPECT_EQ(reply.body, "5");
  }

  TempDir dir_;
  std::optional<CppapiServer> cppapi_;
};

TEST_F(EngineLimits, SilentConnectionIsClosedAfterReadTimeout) {
  start(2, {"--read-timeout", "1"});
  const FcgiSocket silent = connect();
  const auto started = Clock::now();
  bool eof = false;
  silent.read_all(4s, &eof);
  EXPECT_TRUE(eof) << "a connection that never sent a byte was still open after 4 s";
  EXPECT_GE(Clock::now() - started, 900ms);
  expect_served(connect());
}

TEST_F(EngineLimits, StopDoesNotWaitForConnectionsWithoutARequest) {
  start(2, {"--shutdown-timeout", "5"});
  const FcgiSocket silent = connect();
  const FcgiSocket kept = connect();
  ASSERT_TRUE(kept.send(get("add&1&1", true)));
  ASSERT_EQ(read_reply(kept, 2s).body, "2");
  std::this_thread::sleep_for(200ms);  // both accepted
  const auto started = Clock::now();
  cppapi_->process().signal(SIGTERM);
  const auto status = cppapi_->process().wait_exit(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, (ExitStatus{0, 0})) << cppapi_->log();
  EXPECT_LT(Clock::now() - started, 2s) << "the stop waited for a connection that held no request";
}

TEST_F(EngineLimits, SlowReaderHoldsNoThreadAndGetsEveryByte) {
  start(1);
  constexpr std::size_t kSize = 6 << 20;
  const FcgiSocket slow = connect();
  ASSERT_TRUE(slow.send(get("test/blob&" + std::to_string(kSize))));
  std::string slow_bytes;
  std::thread reader([&] { slow_bytes = read_slowly(slow, 3 << 20, 30s); });  // about 2 s
  std::this_thread::sleep_for(300ms);
  const auto started = Clock::now();
  expect_served(connect(), 5s);
  EXPECT_LT(Clock::now() - started, 1s) << "a client waited for the one thread a slow reader held";
  reader.join();
  const FcgiReply reply = parse_reply(slow_bytes);
  EXPECT_TRUE(reply.ended);
  EXPECT_EQ(reply.body.size(), kSize);
  EXPECT_EQ(first_wrong_blob_byte(reply.body), std::string::npos);
}

TEST_F(EngineLimits, WriteTimeoutCountsInactivityNotTheWholeReply) {
  start(1, {"--write-timeout", "1"});
  constexpr std::size_t kSize = 6 << 20;
  // Progressing all along for about 3 s, three times write_timeout: never cut.
  const FcgiSocket slow = connect();
  ASSERT_TRUE(slow.send(get("test/blob&" + std::to_string(kSize))));
  const FcgiReply reply = parse_reply(read_slowly(slow, 2 << 20, 30s));
  EXPECT_TRUE(reply.ended);
  EXPECT_EQ(reply.body.size(), kSize);
  // No progress at all for write_timeout: closed.
  const FcgiSocket stuck = connect();
  ASSERT_TRUE(stuck.send(get("test/blob&" + std::to_string(kSize))));
  std::this_thread::sleep_for(3s);
  bool eof = false;
  const std::string got = stuck.read_all(5s, &eof);
  EXPECT_TRUE(eof);
  EXPECT_LT(got.size(), kSize);
  expect_served(connect());
}

TEST_F(EngineLimits, UnknownRoleWithoutKeepConnCloses) {
  start(1);
  const FcgiSocket socket = connect();
  ASSERT_TRUE(socket.send(fcgi::begin(1, false, 2 /* authorizer */)));
  bool eof = false;
  const FcgiReply reply = parse_reply(socket.read_all(3s, &eof));
  EXPECT_TRUE(reply.ended);
  EXPECT_EQ(reply.protocol_status, 3);  // FCGI_UNKNOWN_ROLE
  EXPECT_TRUE(eof) << "the connection stayed open after refusing a request without KEEP_CONN";
}

TEST_F(EngineLimits, MaxConnectionsStopsAcceptingUntilOneCloses) {
  start(2, {"--max-connections", "3"});
  std::vector<FcgiSocket> held;
  for (int i = 0; i < 3; ++i) held.push_back(connect());
  std::this_thread::sleep_for(300ms);
  const FcgiSocket waiting = connect();  // queued by the kernel: not accepted yet
  ASSERT_TRUE(waiting.send(get("add&2&3")));
  EXPECT_FALSE(parse_reply(waiting.read_all(700ms)).ended) << "served past max_connections";
  held.erase(held.begin());
  const FcgiReply reply = read_reply(waiting, 3s);
  EXPECT_EQ(reply.body, "5") << cppapi_->log();
  EXPECT_EQ(grep_lines(cppapi_->log(), {"max_connections"}).size(), 1u) << cppapi_->log();
}

TEST_F(EngineLimits, OutOfDescriptorsBacksOffAndRecovers) {
  // cppapi under a low RLIMIT_NOFILE: a few descriptors for itself, the rest for connections.
  const fs::path socket = dir_ / "cppapi.sock";
  std::vector<std::string> argv{"/usr/bin/prlimit",
                                "--nofile=32:32",
                                cppapi_binary().string(),
                                "serve",
                                "--listen",
                                "unix:" + socket.string(),
                                "--threads",
                                "2"};
  if (::geteuid() == 0) argv.insert(argv.end(), {"--user", "root"});
  Process cppapi(argv, dir_ / "cppapi.log", {{}, dir_.path()});
  ASSERT_TRUE(wait_for_unix_socket(socket)) << cppapi.log();
  const FcgiSocket kept = FcgiSocket::unix_socket(socket);
  ASSERT_TRUE(kept.send(get("add&1&1", true)));
  ASSERT_EQ(read_reply(kept, 2s).body, "2");
  const std::size_t lines_at_start = grep_lines(cppapi.log(), {"accept"}).size();
  std::vector<FcgiSocket> flood;
  for (int i = 0; i < 60; ++i) flood.push_back(FcgiSocket::unix_socket(socket));
  std::this_thread::sleep_for(500ms);
  const std::size_t lines_before = grep_lines(cppapi.log(), {"accept"}).size();
  const double cpu_before = cpu_seconds(cppapi.pid());
  std::this_thread::sleep_for(1s);
  const double cpu_used = cpu_seconds(cppapi.pid()) - cpu_before;
  const std::size_t lines_after = grep_lines(cppapi.log(), {"accept"}).size();
  EXPECT_LT(cpu_used, 0.2) << "CPU seconds used in 1 s while out of descriptors";
  EXPECT_LE(lines_after, lines_at_start + 3) << "log lines about accept: " << lines_before << " then " << lines_after;
  // The kept connection is still served.
  ASSERT_TRUE(kept.send(get("add&2&3", true, 2)));
  EXPECT_EQ(read_reply(kept, 2s).body, "5");
  // Once descriptors are free again, new connections are served.
  flood.clear();
  const FcgiSocket fresh = FcgiSocket::unix_socket(socket);
  ASSERT_TRUE(fresh.send(get("add&3&4")));
  EXPECT_EQ(read_reply(fresh, 3s).body, "7") << cppapi.log().substr(0, 2000);
  EXPECT_TRUE(cppapi.running());
}

}  // namespace
}  // namespace cppapi::test
