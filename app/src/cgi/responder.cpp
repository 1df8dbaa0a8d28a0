// SPDX-License-Identifier: MIT
#include "cgi/responder.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "dispatch/body_reader.hpp"
#include "dispatch/reply_writer.hpp"
#include "dispatch/request_access.hpp"

extern char** environ;

namespace cppapi {
namespace {

bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(written));
  }
  return true;
}

}  // namespace

int run_cgi(const Dispatcher& dispatcher) {
  // CGI stdin need not end after the body, so read exactly CONTENT_LENGTH bytes.
  BodyRead body = read_body(std::getenv("CONTENT_LENGTH"), dispatcher.settings().limits.max_body_bytes, false,
                            [](char* buffer, std::size_t size) {
                              ssize_t got;
                              do got = ::read(STDIN_FILENO, buffer, size);
                              while (got < 0 && errno == EINTR);
                              return got;
                            });
  Request request = detail::RequestAccess::make(environ, body.bytes);
  const Reply reply = body.refusal ? dispatcher.refuse(request, body.refusal->status(), body.refusal->what())
                                   : dispatcher.handle(request);
  if (!write_all(STDOUT_FILENO, render_head(reply))) return 1;
  if (sends_body(reply, request.method()) && !write_all(STDOUT_FILENO, reply.body)) return 1;
  return 0;
}

}  // namespace cppapi
