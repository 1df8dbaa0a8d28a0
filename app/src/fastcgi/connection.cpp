// SPDX-License-Identifier: MIT
#include "fastcgi/connection.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace cppapi {
namespace {

constexpr std::size_t kReadChunk = 16384;

}  // namespace

FastcgiConnection::FastcgiConnection(int fd, fastcgi::ParserLimits limits)
    : fd_(fd), parser_(limits), last_activity_(Clock::now()) {}

FastcgiConnection::~FastcgiConnection() { close(); }

void FastcgiConnection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool FastcgiConnection::claim() {
  std::uint8_t state = state_.load(std::memory_order_acquire);
  while (true) {
    const std::uint8_t next = state == kIdle ? kOwned : kOwnedEventCame;
    if (!state_.compare_exchange_weak(state, next, std::memory_order_acq_rel)) continue;
    if (state != kIdle) return false;
    input_drained_ = false;  // the event may be for bytes that came after the last read
    return true;
  }
}

bool FastcgiConnection::release() {
  std::uint8_t owned = kOwned;
  if (state_.compare_exchange_strong(owned, kIdle, std::memory_order_acq_rel)) return true;
  // It was kOwnedEventCame. A mark that lands between the two steps is overwritten but not
  // lost: its bytes arrived before the read the caller does next.
  state_.store(kOwned, std::memory_order_release);
  input_drained_ = false;
  return false;
}

FastcgiConnection::Next FastcgiConnection::next_request(fastcgi::IncomingRequest& request, AfterReply after_reply) {
  bool replied = false;
  while (true) {
    if (has_output()) {
      const Flush flushed = flush();
      if (flushed == Flush::kFailed) return Next::kClosed;
      if (flushed == Flush::kBlocked) return Next::kWaiting;  // parked until writable; nothing read meanwhile
      replied = true;
    }
    if (close_after_output_) return Next::kClosed;
    const Parsed parsed = parse_buffered(request);
    if (parsed == Parsed::kRequest) return Next::kRequest;
    if (parsed == Parsed::kClosed) return Next::kClosed;
    if (has_output() || close_after_output_) continue;  // replies to send (and maybe a close) first
    if (peer_closed_) return Next::kClosed;
    if (replied && after_reply == AfterReply::kPark && input_drained_) {
      release_idle_buffers();
      return Next::kWaiting;
    }
    if (!read_available()) {
      if (peer_closed_) return Next::kClosed;
      release_idle_buffers();
      return Next::kWaiting;
    }
  }
}

/// Runs the parser over the buffered bytes; management replies go to the output.
FastcgiConnection::Parsed FastcgiConnection::parse_buffered(fastcgi::IncomingRequest& request) {
  using Result = fastcgi::RequestParser::Result;
  std::string_view pending = std::string_view(input_).substr(consumed_);
  const std::size_t before = pending.size();
  const Result result = parser_.consume(pending, output_);
  consumed_ += before - pending.size();
  if (consumed_ == input_.size()) {
    input_.clear();
    consumed_ = 0;
  }
  writing_.store(has_output(), std::memory_order_relaxed);
  if (result == Result::kBroken) {
    problem_ = parser_.error();
    return Parsed::kClosed;
  }
  if (result == Result::kClose) close_after_output_ = true;
  // Bytes of a record not yet whole count as a request begun: they stall the same way.
  mid_request_.store(parser_.in_request() || consumed_ < input_.size(), std::memory_order_relaxed);
  if (result != Result::kRequestReady) return Parsed::kMore;
  request = parser_.take_request();
  mid_request_.store(false, std::memory_order_relaxed);
  served_any_.store(true, std::memory_order_relaxed);
  return Parsed::kRequest;
}

/// Reads until the socket is empty or kInputLimit bytes wait unparsed; true when new
/// bytes arrived. The caller parses them before reading more: the buffer stays bounded
/// however fast the peer sends.
bool FastcgiConnection::read_available() {
  if (consumed_ > 0) {
    input_.erase(0, consumed_);
    consumed_ = 0;
  }
  bool got_any = false;
  // Read on the stack and keep only what came: an idle kept connection then holds a
  // buffer the size of one request, not of the read chunk.
  char chunk[kReadChunk];
  while (input_.size() < kInputLimit) {
    const std::size_t room = std::min(kReadChunk, kInputLimit - input_.size());
    const ssize_t got = ::read(fd_, chunk, room);
    if (got > 0) {
      input_.append(chunk, static_cast<std::size_t>(got));
      got_any = true;
      touch();
      // A short read emptied the socket: a stream socket hands over all it holds.
      input_drained_ = static_cast<std::size_t>(got) < room;
      if (input_drained_) return true;
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    input_drained_ = true;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return got_any;
    peer_closed_ = true;  // EOF or a hard error
    return got_any;
  }
  return got_any;  // stopped at kInputLimit: input_drained_ is false
}

/// An outsized request or reply does not keep its buffers for the connection's life.
void FastcgiConnection::release_idle_buffers() {
  if (input_.empty() && input_.capacity() > kKeptCapacity) std::string().swap(input_);
  if (!has_output() && output_.capacity() > kKeptCapacity) std::string().swap(output_);
}

FastcgiConnection::Flush FastcgiConnection::flush() {
  while (has_output()) {
    const ssize_t written = ::send(fd_, output_.data() + sent_, output_.size() - sent_, MSG_NOSIGNAL);
    if (written > 0) {
      sent_ += static_cast<std::size_t>(written);
      touch();
      continue;
    }
    if (written < 0 && errno == EINTR) continue;
    writing_.store(true, std::memory_order_relaxed);
    if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Flush::kBlocked;
    return Flush::kFailed;  // EPIPE, ECONNRESET: the web server went away
  }
  output_.clear();
  sent_ = 0;
  writing_.store(false, std::memory_order_relaxed);
  release_idle_buffers();
  return Flush::kDone;
}

bool FastcgiConnection::send(std::string_view bytes, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!bytes.empty()) {
    const ssize_t written = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
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
  touch();
  return true;
}

}  // namespace cppapi
