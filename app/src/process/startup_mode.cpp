// SPDX-License-Identifier: MIT
#include "process/startup_mode.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace cppapi {
namespace {

constexpr int kSystemdFirstFd = 3;  // SD_LISTEN_FDS_START

bool is_listening_socket(int fd) {
  int accepting = 0;
  socklen_t size = sizeof accepting;
  return ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &size) == 0 && accepting;
}

}  // namespace

StartupMode detect_startup_mode() {
  const char* listen_pid = std::getenv("LISTEN_PID");
  const char* listen_fds = std::getenv("LISTEN_FDS");
  if (listen_pid && listen_fds && std::atol(listen_pid) == static_cast<long>(::getpid()) &&
      std::atoi(listen_fds) >= 1 && is_listening_socket(kSystemdFirstFd))
    return StartupMode::kSocketActivated;
  if (is_listening_socket(STDIN_FILENO)) return StartupMode::kSpawned;
  if (std::getenv("GATEWAY_INTERFACE")) return StartupMode::kCgi;
  return StartupMode::kNone;
}

std::string_view describe(StartupMode mode) {
  switch (mode) {
    case StartupMode::kSocketActivated:
      return "socket-activated (systemd, listener on fd 3)";
    case StartupMode::kSpawned:
      return "spawned (listener on fd 0; the spawner manages processes)";
    case StartupMode::kCgi:
      return "CGI (one request, then exit)";
    case StartupMode::kNone:
      return "none";
  }
  return "none";
}

int inherited_listen_fd(StartupMode mode) {
  if (mode == StartupMode::kSocketActivated) {
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    return kSystemdFirstFd;
  }
  return mode == StartupMode::kSpawned ? STDIN_FILENO : -1;
}

}  // namespace cppapi
