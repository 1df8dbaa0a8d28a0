// SPDX-License-Identifier: MIT
// FastcgiConnection on one end of a socketpair: what it keeps buffered, and when it
// closes by itself.
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "fastcgi/connection.hpp"
#include "fastcgi/protocol.hpp"

namespace cppapi {
namespace {

using namespace fastcgi;

std::string record(std::uint8_t type, std::uint16_t id, std::string_view content) {
  std::string out;
  append_header(out, type, id, content.size());
  return out.append(content);
}

std::string begin(std::uint16_t id, bool keep, std::uint16_t role = kResponderRole) {
  const char body[8] = {
      static_cast<char>(role >> 8), static_cast<char>(role & 0xff), keep ? '\1' : '\0', 0, 0, 0, 0, 0};
  return record(kBeginRequest, id, std::string_view(body, 8));
}

std::string head(std::uint16_t id, bool keep) {
  std::string pairs;
  append_name_value(pairs, "REQUEST_METHOD", "POST");
  return begin(id, keep) + record(kParams, id, pairs) + record(kParams, id, "");
}

/// A connected pair: `ours` non-blocking for the connection, `theirs` for the test.
struct Pair {
  int ours = -1, theirs = -1;
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    ours = fds[0];
    theirs = fds[1];
    ::fcntl(ours, F_SETFL, ::fcntl(ours, F_GETFL) | O_NONBLOCK);
    // Room for a few MiB in flight (root may exceed wmem_max): what a fast peer keeps queued.
    const int big = 8 << 20;
    if (::setsockopt(theirs, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) != 0)
      ::setsockopt(theirs, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  }
  ~Pair() { ::close(theirs); }
  /// Writes what fits without blocking; returns how much.
  std::size_t offer(std::string_view bytes) const {
    ::fcntl(theirs, F_SETFL, ::fcntl(theirs, F_GETFL) | O_NONBLOCK);
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(theirs, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    return sent;
  }
};

TEST(FastcgiConnection, InputBufferStaysBoundedWhileThePeerKeepsItFull) {
  Pair pair;
  ParserLimits limits;
  limits.max_body_bytes = 1024;  // the body is counted, not kept
  FastcgiConnection connection(pair.ours, limits);
  std::string stream = head(1, true);
  const std::string chunk = record(kStdin, 1, std::string(65535, 'x'));
  while (stream.size() < (6u << 20)) stream += chunk;
  const std::size_t queued = pair.offer(stream);
  ASSERT_GT(queued, 1u << 20) << "could not queue enough to test";
  IncomingRequest request;
  EXPECT_EQ(connection.next_request(request), FastcgiConnection::Next::kWaiting);
  EXPECT_LE(connection.buffer_capacity(), 256u << 10) << "after " << queued << " bytes queued";
}

TEST(FastcgiConnection, GivesBackTheBufferOfAnOutsizedRequestWhenIdle) {
  Pair pair;
  ParserLimits limits;
  limits.max_body_bytes = 4 << 20;
  FastcgiConnection connection(pair.ours, limits);
  std::string stream = head(1, true);
  for (int i = 0; i < 24; ++i) stream += record(kStdin, 1, std::string(65535, 'y'));
  stream += record(kStdin, 1, "");
  ASSERT_EQ(pair.offer(stream), stream.size());
  IncomingRequest request;
  ASSERT_EQ(connection.next_request(request), FastcgiConnection::Next::kRequest);
  EXPECT_EQ(request.body.size(), 24u * 65535);
  EXPECT_EQ(connection.next_request(request), FastcgiConnection::Next::kWaiting);
  EXPECT_LE(connection.buffer_capacity(), 64u << 10);
}

// One syscall saved per kept-alive request: after a reply, kPark leaves the next request
// in the socket for epoll to report; kReadOn (a stop) reads it at once.
TEST(FastcgiConnection, AfterAReplyParksWithoutReadingUnlessAskedToReadOn) {
  for (const auto after_reply : {FastcgiConnection::AfterReply::kPark, FastcgiConnection::AfterReply::kReadOn}) {
    Pair pair;
    FastcgiConnection connection(pair.ours, {});
    const std::string one = head(1, true) + record(kStdin, 1, "");
    ASSERT_EQ(pair.offer(one), one.size());
    IncomingRequest request;
    ASSERT_EQ(connection.next_request(request, after_reply), FastcgiConnection::Next::kRequest);
    connection.output() = record(kStdout, 1, "reply");
    ASSERT_EQ(pair.offer(one), one.size());  // the web server's next request is already there
    const auto next = connection.next_request(request, after_reply);
    int unread = 0;
    ASSERT_EQ(::ioctl(pair.ours, FIONREAD, &unread), 0);
    if (after_reply == FastcgiConnection::AfterReply::kPark) {
      EXPECT_EQ(next, FastcgiConnection::Next::kWaiting);
      EXPECT_EQ(static_cast<std::size_t>(unread), one.size()) << "left in the socket for epoll";
      EXPECT_EQ(connection.next_request(request, after_reply), FastcgiConnection::Next::kRequest) << "read on wake-up";
    } else {
      EXPECT_EQ(next, FastcgiConnection::Next::kRequest);
      EXPECT_EQ(unread, 0);
    }
  }
}

// Edge-triggered epoll reports new bytes once: after a reply the connection may skip the
// read only when its last read emptied the socket. Here it stopped at kInputLimit with the
// next request's bytes still in the socket, and nothing would report them again.
TEST(FastcgiConnection, AfterAReplyReadsOnWhenTheLastReadStoppedAtTheInputLimit) {
  Pair pair;
  FastcgiConnection connection(pair.ours, {});
  std::string second = head(2, true);
  const std::string chunk(60000, 'x');
  for (int i = 0; i < 5; ++i) second += record(kStdin, 2, chunk);
  second += record(kStdin, 2, "");
  const std::string both = head(1, true) + record(kStdin, 1, "") + second;
  ASSERT_EQ(pair.offer(both), both.size());
  IncomingRequest request;
  ASSERT_EQ(connection.next_request(request, FastcgiConnection::AfterReply::kPark), FastcgiConnection::Next::kRequest);
  ASSERT_EQ(request.id, 1);
  connection.output() = record(kStdout, 1, "reply");
  EXPECT_EQ(connection.next_request(request, FastcgiConnection::AfterReply::kPark), FastcgiConnection::Next::kRequest);
  EXPECT_EQ(request.id, 2);
  EXPECT_EQ(request.body.size(), 5 * chunk.size());
}

// The hand-over between the thread that serves a connection and the one that reads its
// events: at most one owner, and an event that comes while it is owned is not lost.
TEST(FastcgiConnection, AnEventWhileOwnedMakesTheOwnerReadOn) {
  Pair pair;
  FastcgiConnection connection(pair.ours, {});
  EXPECT_TRUE(connection.in_use()) << "a new connection belongs to the thread that accepted it";
  EXPECT_FALSE(connection.claim()) << "an event while owned only marks it";
  EXPECT_FALSE(connection.release()) << "so the owner reads again";
  EXPECT_TRUE(connection.release());
  EXPECT_FALSE(connection.in_use());
  EXPECT_TRUE(connection.claim()) << "the next event hands it to its caller";
  EXPECT_FALSE(connection.claim());
}

TEST(FastcgiConnection, ClaimAndReleaseNeverMakeTwoOwners) {
  Pair pair;
  FastcgiConnection connection(pair.ours, {});
  ASSERT_TRUE(connection.release());
  std::atomic<int> owners{0};
  std::atomic<int> overlaps{0};
  std::atomic<int> served{0};
  auto events = [&] {
    for (int i = 0; i < 20000; ++i) {
      if (!connection.claim()) continue;
      do {
        if (owners.fetch_add(1) != 0) ++overlaps;
        ++served;
        owners.fetch_sub(1);
      } while (!connection.release());
    }
  };
  std::thread a(events), b(events);
  a.join();
  b.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_GT(served.load(), 0);
  EXPECT_FALSE(connection.in_use());
}

TEST(FastcgiConnection, ClosesAfterRefusingARoleWithoutKeepConn) {
  Pair pair;
  FastcgiConnection connection(pair.ours, {});
  ASSERT_GT(pair.offer(begin(1, false, 2 /* authorizer */)), 0u);
  IncomingRequest request;
  EXPECT_EQ(connection.next_request(request), FastcgiConnection::Next::kClosed);
  std::string reply(64, '\0');
  const ssize_t got = ::recv(pair.theirs, reply.data(), reply.size(), MSG_DONTWAIT);
  ASSERT_EQ(got, 16);  // END_REQUEST, UNKNOWN_ROLE
  EXPECT_EQ(reply[1], kEndRequest);
  EXPECT_EQ(reply[8 + 4], kUnknownRole);
}

TEST(FastcgiConnection, KeepsTheConnectionAfterRefusingARoleWithKeepConn) {
  Pair pair;
  FastcgiConnection connection(pair.ours, {});
  ASSERT_GT(pair.offer(begin(1, true, 2)), 0u);
  IncomingRequest request;
  EXPECT_EQ(connection.next_request(request), FastcgiConnection::Next::kWaiting);
}

}  // namespace
}  // namespace cppapi
