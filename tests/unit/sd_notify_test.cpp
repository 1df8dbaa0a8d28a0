// SPDX-License-Identifier: MIT
// The notification protocol spoken without libsystemd: a datagram to NOTIFY_SOCKET, a path
// or an abstract name ("@..."), and the watchdog interval from WATCHDOG_USEC/WATCHDOG_PID.
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "process/sd_notify.hpp"
#include "unique_temp_dir.hpp"

namespace {

using namespace std::chrono_literals;

/// A datagram socket bound where NOTIFY_SOCKET points, as systemd's would be.
class Receiver {
 public:
  explicit Receiver(const std::string& name) : fd_(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, name.data(), name.size());
    if (name[0] == '@') address.sun_path[0] = '\0';
    const auto length =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + (name[0] == '@' ? 0 : 1));
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&address), length) != 0) ADD_FAILURE() << "bind " << name;
    ::setenv("NOTIFY_SOCKET", name.c_str(), 1);
  }
  ~Receiver() {
    ::close(fd_);
    ::unsetenv("NOTIFY_SOCKET");
  }
  std::string take() const {
    char buffer[512];
    const ssize_t got = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
    return got < 0 ? std::string("(nothing)") : std::string(buffer, static_cast<std::size_t>(got));
  }

 private:
  int fd_;
};

TEST(SdNotify, SendsOneDatagramToAPathSocket) {
  const cppapi::test::UniqueTempDir dir;
  const Receiver systemd(dir / "notify");
  ASSERT_TRUE(cppapi::notify_enabled());
  EXPECT_TRUE(cppapi::notify("READY=1\nSTATUS=2 workers"));
  EXPECT_EQ(systemd.take(), "READY=1\nSTATUS=2 workers");
}

TEST(SdNotify, SendsToAnAbstractSocket) {
  const Receiver systemd(fmt::format("@cppapi-notify-test-{}", ::getpid()));
  EXPECT_TRUE(cppapi::notify("STOPPING=1"));
  EXPECT_EQ(systemd.take(), "STOPPING=1");
}

TEST(SdNotify, ReloadingCarriesTheMonotonicClock) {
  const cppapi::test::UniqueTempDir dir;
  const Receiver systemd(dir / "notify");
  ASSERT_TRUE(cppapi::notify_reloading());
  const std::string sent = systemd.take();
  EXPECT_TRUE(sent.starts_with("RELOADING=1\nMONOTONIC_USEC=")) << sent;
  EXPECT_GT(std::stoull(sent.substr(sent.find('=', 12) + 1)), 0u) << sent;
}

TEST(SdNotify, WithoutNotifySocketNothingIsSent) {
  ::unsetenv("NOTIFY_SOCKET");
  EXPECT_FALSE(cppapi::notify_enabled());
  EXPECT_FALSE(cppapi::notify("READY=1"));
}

TEST(SdNotify, ANotifySocketThatIsNotAUnixSocketIsRefused) {
  ::setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
  EXPECT_FALSE(cppapi::notify("READY=1"));
  ::setenv("NOTIFY_SOCKET", "/nonexistent/cppapi/notify", 1);
  EXPECT_FALSE(cppapi::notify("READY=1"));
  ::unsetenv("NOTIFY_SOCKET");
}

TEST(SdNotify, WatchdogIntervalIsHalfOfWatchdogUsecForThisProcess) {
  ::setenv("WATCHDOG_USEC", "400000", 1);
  ::unsetenv("WATCHDOG_PID");
  EXPECT_EQ(cppapi::watchdog_interval(), std::chrono::microseconds(200000));
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  EXPECT_EQ(cppapi::watchdog_interval(), std::chrono::microseconds(200000));
  ::setenv("WATCHDOG_PID", std::to_string(::getpid() + 1).c_str(), 1);  // meant for another process
  EXPECT_EQ(cppapi::watchdog_interval(), std::nullopt);
  ::unsetenv("WATCHDOG_PID");
  ::setenv("WATCHDOG_USEC", "soon", 1);
  EXPECT_EQ(cppapi::watchdog_interval(), std::nullopt);
  ::unsetenv("WATCHDOG_USEC");
  EXPECT_EQ(cppapi::watchdog_interval(), std::nullopt);
}

}  // namespace
