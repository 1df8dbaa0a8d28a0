// SPDX-License-Identifier: MIT
#pragma once
#include <sys/types.h>

#include <string>

namespace cppapi {

/// A listening socket cppapi opened itself (unlike FCGX_OpenSocket: IPv6 works, an
/// address without a host is refused rather than bound to every interface, a live
/// unix socket is never stolen, and failure is an exception instead of exit()).
class ListenSocket {
 public:
  /// `spec`: "unix:/path/to.sock", "127.0.0.1:9000", "[::1]:9000", "0.0.0.0:9000".
  /// `mode`, `owner` and `group` apply to unix sockets ("0660"; -1 leaves an id as it is).
  /// Throws std::runtime_error naming the cause.
  static ListenSocket open(const std::string& spec, int backlog, const std::string& mode,
                           uid_t owner = static_cast<uid_t>(-1), gid_t group = static_cast<gid_t>(-1));

  /// A listener opened before (a master's SIGUSR2 hands it over). With `owns_path`, a
  /// unix socket file is removed by close_and_remove(), as if this process had made it.
  static ListenSocket adopt(int fd, const std::string& spec, bool owns_path);

  ListenSocket(ListenSocket&& other) noexcept;
  ListenSocket& operator=(ListenSocket&&) = delete;
  ~ListenSocket();

  int fd() const { return fd_; }
  const std::string& spec() const { return spec_; }
  /// True for unix:PATH.
  bool is_unix() const { return !unix_path_.empty(); }
  /// Closes the socket and removes a unix socket file (only the one this process made).
  void close_and_remove();
  /// Forget the socket file without removing it (a forked child must not remove it).
  void disown_path() { unix_path_.clear(); }

 private:
  ListenSocket(int fd, std::string spec, std::string unix_path)
      : fd_(fd), spec_(std::move(spec)), unix_path_(std::move(unix_path)) {}
  int fd_;
  std::string spec_;
  std::string unix_path_;
};

namespace detail {
/// Tests only: called with the socket's path right after bind(), before its owner and
/// mode are set (a test plants a symlink there, as a writer of the folder could).
extern void (*after_unix_bind_for_tests)(const std::string& path);
}  // namespace detail

}  // namespace cppapi
