// SPDX-License-Identifier: MIT
#include "fastcgi/connection.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace cppapi {
namespace {

constexpr std::size_t kReadChunk = 16384;

}  // namespace

FastcgiConnection::FastcgiConnection(int fd, fastcgi::ParserLimits limits)
    : fd_(fd), parser_(limits), last_activity_(Clock::now()) {}

FastcgiConnection::~FastcgiConnection() { ::close(fd_); }

FastcgiConnection::Next FastcgiConnection::next_request(fastcgi::IncomingRequest& request) {
  while (true) {
    std::string_view pending = std::string_view(input_).substr(consumed_);
    const std::size_t before = pending.size();
    std::string replies;
    const auto result = parser_.consume(pending, replies);
    consumed_ += before - pending.size();
    if (consumed_ == input_.size()) {
      input_.clear();
      consumed_ = 0;
    }
    if (!replies.empty() && !send(replies, std::chrono::seconds(5))) return Next::kClosed;
    if (result == fastcgi::RequestParser::Result::kBroken) {
      problem_ = parser_.error();
      return Next::kClosed;
    }
    // Bytes of a record not yet whole count as a request begun: they stall the same way.
    mid_request_.store(parser_.in_request() || consumed_ < input_.size(), std::memory_order_relaxed);
    if (result == fastcgi::RequestParser::Result::kRequestReady) {
      request = parser_.take_request();
      mid_request_.store(false, std::memory_order_relaxed);
      served_any_.store(true, std::memory_order_relaxed);
      return Next::kRequest;
    }
    if (peer_closed_) return Next::kClosed;
    if (!read_available()) return peer_closed_ ? Next::kClosed : Next::kWaiting;
  }
}

/// Reads until the socket is empty; true when new bytes arrived.
bool FastcgiConnection::read_available() {
  if (consumed_ > 0 && consumed_ * 2 > input_.size()) {
    input_.erase(0, consumed_);
    consumed_ = 0;
  }
  bool got_any = false;
  // Read on the stack and keep only what came: an idle kept connection then holds a
  // buffer the size of one request, not of the read chunk.
  char chunk[kReadChunk];
  while (true) {
    const ssize_t got = ::read(fd_, chunk, kReadChunk);
    if (got > 0) input_.append(chunk, static_cast<std::size_t>(got));
    if (got > 0) {
      got_any = true;
      last_activity_.store(Clock::now(), std::memory_order_relaxed);
      if (static_cast<std::size_t>(got) < kReadChunk) return true;
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return got_any;
    peer_closed_ = true;  // EOF or a hard error
    return got_any;
  }
}

bool FastcgiConnection::send(std::string_view bytes, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd_, bytes.data(), bytes.size());
    if (written > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(written));
      continue;
    }
    if (written < 0 && errno == EINTR) continue;
    if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      pollfd wait_for{fd_, POLLOUT, 0};
      const int ready = left <= 0 ? 0 : ::poll(&wait_for, 1, static_cast<int>(left));
      if (ready < 0 && errno == EINTR) continue;  // a control signal passed through this thread
      if (ready <= 0) return false;
      continue;
    }
    return false;  // EPIPE, ECONNRESET: the web server went away
  }
  last_activity_.store(Clock::now(), std::memory_order_relaxed);
  return true;
}

}  // namespace cppapi
