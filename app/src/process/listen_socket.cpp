// SPDX-License-Identifier: MIT
#include "process/listen_socket.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace cppapi {
namespace {

[[noreturn]] void fail(const std::string& spec, const std::string& what) {
  throw std::runtime_error(fmt::format("listen {}: {}", spec, what));
}

std::string errno_text() { return std::strerror(errno); }

void make_nonblocking_cloexec(int fd) {
  // Non-blocking so that threads woken by poll() for the same connection do not
  // block in accept() (the loser gets EAGAIN and polls again; stop stays prompt).
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
}

mode_t parse_mode(const std::string& spec, const std::string& mode) {
  char* end = nullptr;
  const unsigned long value = std::strtoul(mode.c_str(), &end, 8);
  if (mode.empty() || *end != '\0' || value > 0777)
    fail(spec, fmt::format("bad socket mode \"{}\" (octal, e.g. 0660)", mode));
  return static_cast<mode_t>(value);
}

int open_unix(const std::string& spec, const std::string& path, int backlog, mode_t mode) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) fail(spec, "socket path empty or too long");
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);

  struct stat info {};
  if (::lstat(path.c_str(), &info) == 0) {
    if (!S_ISSOCK(info.st_mode)) fail(spec, "the path exists and is not a socket");
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live = ::connect(probe, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    ::close(probe);
    if (live) fail(spec, "another process is serving on this socket");
    ::unlink(path.c_str());  // stale: nobody listens on it any more
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) fail(spec, errno_text());
  // Bind under a umask that already gives the final mode: no window where the socket
  // is more open than asked.
  const mode_t old_umask = ::umask(static_cast<mode_t>(~mode & 0777));
  const int bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  const int saved_errno = errno;
  ::umask(old_umask);
  if (bound != 0) {
    ::close(fd);
    errno = saved_errno;
    fail(spec, errno_text());
  }
  ::chmod(path.c_str(), mode);
  if (::listen(fd, backlog) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    ::unlink(path.c_str());
    fail(spec, why);
  }
  return fd;
}

int open_tcp(const std::string& spec, int backlog) {
  const std::size_t colon = spec.rfind(':');
  if (colon == std::string::npos) fail(spec, "expected unix:PATH or HOST:PORT");
  std::string host = spec.substr(0, colon);
  const std::string port = spec.substr(colon + 1);
  if (host.empty()) fail(spec, "give a host: 127.0.0.1:PORT (or 0.0.0.0:PORT to listen on every interface on purpose)");
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "*") host = "0.0.0.0";

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) fail(spec, gai_strerror(rc));
  const int fd = ::socket(found->ai_family, SOCK_STREAM, 0);
  if (fd < 0) {
    ::freeaddrinfo(found);
    fail(spec, errno_text());
  }
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  const bool ok = ::bind(fd, found->ai_addr, found->ai_addrlen) == 0 && ::listen(fd, backlog) == 0;
  const std::string why = ok ? "" : errno_text();
  ::freeaddrinfo(found);
  if (!ok) {
    ::close(fd);
    fail(spec, why);
  }
  return fd;
}

}  // namespace

ListenSocket ListenSocket::open(const std::string& spec, int backlog, const std::string& mode) {
  int fd;
  std::string unix_path;
  if (spec.rfind("unix:", 0) == 0) {
    unix_path = spec.substr(5);
    fd = open_unix(spec, unix_path, backlog, parse_mode(spec, mode));
  } else {
    fd = open_tcp(spec, backlog);
  }
  make_nonblocking_cloexec(fd);
  return ListenSocket(fd, spec, std::move(unix_path));
}

void ListenSocket::set_owner(uid_t owner, gid_t group) {
  if (unix_path_.empty() || (owner == static_cast<uid_t>(-1) && group == static_cast<gid_t>(-1))) return;
  if (::chown(unix_path_.c_str(), owner, group) != 0) fail(spec_, fmt::format("chown: {}", errno_text()));
}

ListenSocket::ListenSocket(ListenSocket&& other) noexcept
    : fd_(other.fd_), spec_(std::move(other.spec_)), unix_path_(std::move(other.unix_path_)) {
  other.fd_ = -1;
  other.unix_path_.clear();
}

ListenSocket::~ListenSocket() { close_and_remove(); }

void ListenSocket::close_and_remove() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
  unix_path_.clear();
}

}  // namespace cppapi
