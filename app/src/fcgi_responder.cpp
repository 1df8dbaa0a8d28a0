// SPDX-License-Identifier: MIT
#include "fcgi_responder.hpp"

#include <fcgiapp.h>
#include <poll.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <stdexcept>
#include <string>

#include <spdlog/spdlog.h>

#include "body_reader.hpp"
#include "grammar.hpp"
#include "log.hpp"
#include "reply_writer.hpp"

namespace cppapi {
namespace {

void put_all(FCGX_Stream* out, std::string_view bytes) {
  while (!bytes.empty()) {
    const int chunk = static_cast<int>(std::min<std::size_t>(bytes.size(), INT_MAX));
    if (FCGX_PutStr(bytes.data(), chunk, out) < 0) return;  // the web server went away
    bytes.remove_prefix(static_cast<std::size_t>(chunk));
  }
}

}  // namespace

FcgiResponder::FcgiResponder(const Dispatcher& dispatcher, int listen_fd, int threads)
    : dispatcher_(dispatcher), listen_fd_(listen_fd) {
  if (::pipe2(stop_pipe_, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  running_ = threads;
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { serve_loop(); });
}

FcgiResponder::~FcgiResponder() {
  request_stop();
  for (auto& thread : threads_)
    if (thread.joinable()) thread.join();
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
}

void FcgiResponder::request_stop() {
  if (stopping_.exchange(true)) return;
  const char byte = 0;
  [[maybe_unused]] auto written = ::write(stop_pipe_[1], &byte, 1);  // never drained: wakes every poll()
}

bool FcgiResponder::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running_.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (running_.load() > 0) return false;
  for (auto& thread : threads_) thread.join();
  return true;
}

void FcgiResponder::serve_loop() {
  FCGX_Request request;
  FCGX_InitRequest(&request, listen_fd_, 0);
  pollfd watched[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
  while (!stopping_.load(std::memory_order_relaxed)) {
    if (::poll(watched, 2, -1) < 0 && errno != EINTR) break;
    if (watched[1].revents) break;
    if (!(watched[0].revents & POLLIN)) continue;
    const int accepted = FCGX_Accept_r(&request);
    if (accepted == -EAGAIN || accepted == -EWOULDBLOCK || accepted == -EINTR) continue;  // a sibling took it
    if (accepted < 0) {
      spdlog::warn("FCGX_Accept_r failed: {}", accepted);
      continue;
    }
    try {
      answer(request);
    } catch (const std::exception& error) {
      spdlog::error("request failed: {}", error.what());
    }
    FCGX_Finish_r(&request);
    served_.fetch_add(1, std::memory_order_relaxed);
  }
  FCGX_Free(&request, 1);
  running_.fetch_sub(1);
}

void FcgiResponder::answer(FCGX_Request& fcgx) {
  const auto started = std::chrono::steady_clock::now();
  const char* const* envp = fcgx.envp;
  const Limits& limits = dispatcher_.settings().limits;

  // FastCGI ends the body with an empty STDIN record, so read to EOF: mod_proxy_fcgi
  // streams chunked bodies without CONTENT_LENGTH.
  BodyRead body = read_body(FCGX_GetParam("CONTENT_LENGTH", fcgx.envp), limits.max_body_bytes, true,
                            [&](char* buffer, std::size_t size) {
                              return FCGX_GetStr(buffer, static_cast<int>(std::min<std::size_t>(size, INT_MAX)), fcgx.in);
                            });
  Request request(envp, std::move(body.bytes));
  Reply reply = body.refusal ? dispatcher_.refuse(request, body.refusal->status(), body.refusal->what())
                             : dispatcher_.handle(request);

  const std::string head = render_head(reply);
  put_all(fcgx.out, head);
  const bool with_body = sends_body(reply, request.method());
  if (with_body) put_all(fcgx.out, reply.body);

  const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
  const std::string_view call =
      request.call().empty() ? raw_call_text(request.param("REQUEST_URI"), dispatcher_.settings().prefix) : request.call();
  log_access(request.method(), call, reply.status, with_body ? reply.body.size() : 0, elapsed);
}

}  // namespace cppapi
