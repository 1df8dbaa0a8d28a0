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
  /// `mode` applies to unix sockets ("0660"). Throws std::runtime_error naming the cause.
  static ListenSocket open(const std::string& spec, int backlog, const std::string& mode);

  ListenSocket(ListenSocket&& other) noexcept;
  ListenSocket& operator=(ListenSocket&&) = delete;
  ~ListenSocket();

  int fd() const { return fd_; }
  const std::string& spec() const { return spec_; }
  /// True for unix:PATH.
  bool is_unix() const { return !unix_path_.empty(); }
  /// chown() of a unix socket file (-1 leaves that id unchanged); throws naming the cause.
  void set_owner(uid_t owner, gid_t group);
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

}  // namespace cppapi
