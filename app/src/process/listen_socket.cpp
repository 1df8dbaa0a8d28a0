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
#include <random>
#include <stdexcept>

#include <fmt/format.h>

namespace cppapi {

void (*detail::after_unix_bind_for_tests)(const std::string& path) = nullptr;

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

/// What a unix socket is made with.
struct SocketAccess {
  int backlog;
  mode_t mode;
  uid_t owner;
  gid_t group;
};

mode_t parse_mode(const std::string& spec, const std::string& mode) {
  char* end = nullptr;
  const unsigned long value = std::strtoul(mode.c_str(), &end, 8);
  if (mode.empty() || *end != '\0' || value > 0777)
    fail(spec, fmt::format("bad socket mode \"{}\" (octal, e.g. 0660)", mode));
  return static_cast<mode_t>(value);
}

/// The folder of `path`, opened O_PATH, and the socket's name in it: every later step
/// works relative to this descriptor, so no step follows a path a writer of the folder can swap.
int open_folder(const std::string& spec, const std::string& path, std::string& name) {
  const std::size_t slash = path.rfind('/');
  const std::string folder = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  name = path.substr(slash == std::string::npos ? 0 : slash + 1);
  if (name.empty() || name == "." || name == "..") fail(spec, "the socket path names a folder");
  const int fd = ::open(folder.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail(spec, fmt::format("{}: {}", folder, errno_text()));
  return fd;
}

/// Refuses a path that holds anything but a stale socket, and removes a stale one. Only
/// ECONNREFUSED means stale: EACCES is a socket we may not use, likely another user's live one.
void remove_stale(const std::string& spec, const sockaddr_un& address, int folder, const std::string& name) {
  struct stat info {};
  if (::fstatat(folder, name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) return;  // nothing there
  if (!S_ISSOCK(info.st_mode)) fail(spec, "the path exists and is not a socket");
  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int connected = ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  const int why = errno;
  ::close(probe);
  if (connected == 0) fail(spec, "another process is serving on this socket");
  if (why == EACCES)
    fail(spec,
         "permission denied probing the socket already there: it may be another user's live socket "
         "(remove it by hand if it is stale)");
  if (why != ECONNREFUSED && why != ENOENT)
    fail(spec, fmt::format("cannot tell whether the socket already there is stale: {}", std::strerror(why)));
  ::unlinkat(folder, name.c_str(), 0);
}

/// A folder only this process may enter, next to the socket, removed (with what is left
/// in it) at destruction. The socket gets its owner and mode in here, where nobody else
/// can put a symlink in its place, and is then linked to its real name.
class PrivateFolder {
 public:
  PrivateFolder(const std::string& spec, int parent) : parent_(parent) {
    std::random_device random;
    for (int attempt = 0;; ++attempt) {
      name_ = fmt::format(".cppapi-{}-{:08x}", ::getpid(), random());
      if (::mkdirat(parent, name_.c_str(), 0700) == 0) break;
      if (errno != EEXIST || attempt == 100) fail(spec, fmt::format("cannot make a private folder: {}", errno_text()));
    }
    fd_ = ::openat(parent, name_.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat info {};
    if (fd_ < 0 || ::fstat(fd_, &info) != 0 || info.st_uid != ::geteuid() || (info.st_mode & 077) != 0) {
      remove();
      fail(spec, "the private folder was replaced while being made");
    }
  }
  ~PrivateFolder() { remove(); }
  PrivateFolder(const PrivateFolder&) = delete;
  PrivateFolder& operator=(const PrivateFolder&) = delete;
  int fd() const { return fd_; }

 private:
  void remove() {
    if (fd_ >= 0) {
      ::unlinkat(fd_, "s", 0);
      ::close(fd_);
      fd_ = -1;
    }
    ::unlinkat(parent_, name_.c_str(), AT_REMOVEDIR);
  }

  int parent_;
  int fd_ = -1;
  std::string name_;
};

/// bind() `fd` to the name "s" inside `folder`, by way of the working directory (the
/// path a bind() takes is resolved once, at the call, in a folder only we can write).
int bind_inside(int fd, int folder) {
  const int saved = ::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (saved < 0 || ::fchdir(folder) != 0) {
    if (saved >= 0) ::close(saved);
    return -1;
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, "s", 2);
  const int bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  const int saved_errno = errno;
  (void)!::fchdir(saved);
  ::close(saved);
  errno = saved_errno;
  return bound;
}

/// The socket, listening, with its owner and mode, made in a private folder and only
/// then linked to `name` (never replacing anything that appeared there meanwhile).
int make_socket(const std::string& spec, const std::string& path, int folder, const std::string& name,
                const SocketAccess& access) {
  const PrivateFolder inside(spec, folder);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) fail(spec, errno_text());
  const auto give_up = [&](const std::string& what) {
    const std::string why = fmt::format("{}: {}", what, errno_text());
    ::close(fd);
    fail(spec, why);
  };
  if (bind_inside(fd, inside.fd()) != 0) give_up("bind");
  if (detail::after_unix_bind_for_tests) detail::after_unix_bind_for_tests(path);
  // Mode, link, then owner: chmod and link of a file another user owns need CAP_FOWNER
  // (fs.protected_hardlinks), which a hardened root master may lack. The owner changes on
  // the private name, the same inode, once the mode already keeps strangers out.
  if (::fchmodat(inside.fd(), "s", access.mode, 0) != 0) give_up("chmod");
  if (::listen(fd, access.backlog) != 0) give_up("listen");
  if (::linkat(inside.fd(), "s", folder, name.c_str(), 0) != 0) {
    if (errno == EEXIST) {
      ::close(fd);
      fail(spec, "something appeared at the path while the socket was made; it was not replaced");
    }
    give_up("link");
  }
  if ((access.owner != static_cast<uid_t>(-1) || access.group != static_cast<gid_t>(-1)) &&
      ::fchownat(inside.fd(), "s", access.owner, access.group, AT_SYMLINK_NOFOLLOW) != 0) {
    const int saved_errno = errno;
    (void)::unlinkat(folder, name.c_str(), 0);  // ours, linked a moment ago
    errno = saved_errno;
    give_up("chown");
  }
  return fd;
}

int open_unix(const std::string& spec, const std::string& path, const SocketAccess& access) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof address.sun_path) fail(spec, "socket path empty or too long");
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  std::string name;
  const int folder = open_folder(spec, path, name);
  try {
    remove_stale(spec, address, folder, name);
    const int fd = make_socket(spec, path, folder, name, access);
    ::close(folder);
    return fd;
  } catch (...) {
    ::close(folder);
    throw;
  }
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

ListenSocket ListenSocket::open(const std::string& spec, int backlog, const std::string& mode, uid_t owner,
                                gid_t group) {
  int fd;
  std::string unix_path;
  if (spec.rfind("unix:", 0) == 0) {
    unix_path = spec.substr(5);
    fd = open_unix(spec, unix_path, {backlog, parse_mode(spec, mode), owner, group});
  } else {
    fd = open_tcp(spec, backlog);
  }
  make_nonblocking_cloexec(fd);
  return ListenSocket(fd, spec, std::move(unix_path));
}

ListenSocket ListenSocket::adopt(int fd, const std::string& spec, bool owns_path) {
  make_nonblocking_cloexec(fd);
  return ListenSocket(fd, spec, owns_path && spec.rfind("unix:", 0) == 0 ? spec.substr(5) : std::string());
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
