// SPDX-License-Identifier: MIT
#include "process/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string_view>

#include <fmt/format.h>

// The protocol is one datagram to the AF_UNIX socket named by NOTIFY_SOCKET (a path, or
// "@name" in the abstract namespace), as sd_notify(3) describes it. Speaking it here
// instead of linking libsystemd keeps libsystemd and the five libraries it loads
// (libgcrypt, libgpg-error, liblzma, liblz4, libzstd) out of every process: about
// 470 KiB of PSS in the master (docs/performance.md).

namespace cppapi {
namespace {

std::string_view notify_socket() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  return socket ? std::string_view(socket) : std::string_view();
}

/// The socket's address, or false when NOTIFY_SOCKET is not a unix socket we can name.
bool notify_address(std::string_view name, sockaddr_un& address, socklen_t& length) {
  if (name.size() < 2 || name.size() >= sizeof(address.sun_path)) return false;
  if (name[0] != '/' && name[0] != '@') return false;  // vsock: and other kinds: not for us
  address = {};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, name.data(), name.size());
  if (name[0] == '@') address.sun_path[0] = '\0';  // abstract: no terminating NUL, the length says where it ends
  length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + (name[0] == '/' ? 1 : 0));
  return true;
}

std::optional<std::uint64_t> environment_number(const char* key) {
  const char* text = std::getenv(key);
  if (!text || !*text) return std::nullopt;
  std::uint64_t value = 0;
  const char* end = text + std::strlen(text);
  const auto [last, error] = std::from_chars(text, end, value);
  if (error != std::errc() || last != end) return std::nullopt;
  return value;
}

}  // namespace

bool notify_enabled() { return !notify_socket().empty(); }

bool notify(std::string_view state) {
  sockaddr_un address{};
  socklen_t length = 0;
  if (!notify_address(notify_socket(), address, length)) return false;
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ssize_t sent;
  do {
    sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&address), length);
  } while (sent < 0 && errno == EINTR);
  ::close(fd);
  return sent == static_cast<ssize_t>(state.size());
}

bool notify_reloading() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec =
      static_cast<std::uint64_t>(now.tv_sec) * 1'000'000u + static_cast<std::uint64_t>(now.tv_nsec) / 1000u;
  return notify(fmt::format("RELOADING=1\nMONOTONIC_USEC={}", usec));
}

std::optional<std::chrono::microseconds> watchdog_interval() {
  const auto usec = environment_number("WATCHDOG_USEC");
  if (!usec || *usec == 0) return std::nullopt;
  // WATCHDOG_PID, when set, names the process the watchdog is meant for (sd_watchdog_enabled(3)).
  if (const auto pid = environment_number("WATCHDOG_PID"); pid && *pid != static_cast<std::uint64_t>(::getpid()))
    return std::nullopt;
  return std::chrono::microseconds(static_cast<std::int64_t>(*usec / 2));
}

}  // namespace cppapi
