// SPDX-License-Identifier: MIT
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

#include "process/listen_socket.hpp"

namespace cppapi {
namespace {

class ListenSocketTest : public testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/cppapi_listen_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  /// The message ListenSocket::open throws for `spec`, or "opened".
  static std::string refusal(const std::string& spec, const std::string& mode = "0660") {
    try {
      ListenSocket socket = ListenSocket::open(spec, 16, mode);
      socket.close_and_remove();
      return "opened";
    } catch (const std::runtime_error& error) {
      return error.what();
    }
  }
  std::string dir_;
};

TEST_F(ListenSocketTest, AnAddressWithoutAHostIsRefused) {
  EXPECT_NE(refusal(":9000").find("give a host"), std::string::npos) << refusal(":9000");
}

TEST_F(ListenSocketTest, ASpecWithoutPortOrPrefixIsRefused) {
  EXPECT_NE(refusal("localhost").find("expected unix:PATH or HOST:PORT"), std::string::npos);
}

TEST_F(ListenSocketTest, AnUnknownHostOrBadPortIsRefused) {
  EXPECT_NE(refusal("127.0.0.1:notaport"), "opened");
  EXPECT_NE(refusal("no-such-host.invalid:9000"), "opened");
}

TEST_F(ListenSocketTest, AnEmptyOrOverlongSocketPathIsRefused) {
  EXPECT_NE(refusal("unix:").find("socket path empty or too long"), std::string::npos);
  EXPECT_NE(refusal("unix:" + dir_ + "/" + std::string(200, 'x')).find("too long"), std::string::npos);
}

TEST_F(ListenSocketTest, ABadModeIsRefused) {
  EXPECT_NE(refusal("unix:" + dir_ + "/s.sock", "rw").find("bad socket mode"), std::string::npos);
  EXPECT_NE(refusal("unix:" + dir_ + "/s.sock", "0999").find("bad socket mode"), std::string::npos);
}

TEST_F(ListenSocketTest, ARegularFileIsNeverReplaced) {
  const std::string path = dir_ + "/not-a-socket";
  std::ofstream(path) << "data";
  EXPECT_NE(refusal("unix:" + path).find("exists and is not a socket"), std::string::npos);
  std::ifstream in(path);
  std::string content;
  in >> content;
  EXPECT_EQ(content, "data");
}

TEST_F(ListenSocketTest, ALiveSocketIsNeverTakenOver) {
  const std::string spec = "unix:" + dir_ + "/live.sock";
  ListenSocket first = ListenSocket::open(spec, 16, "0660");
  EXPECT_NE(refusal(spec).find("another process is serving"), std::string::npos);
  struct stat before {};
  ASSERT_EQ(::stat((dir_ + "/live.sock").c_str(), &before), 0);
  first.close_and_remove();
}

TEST_F(ListenSocketTest, AStaleSocketFileIsReplaced) {
  const std::string path = dir_ + "/stale.sock";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  path.copy(address.sun_path, sizeof address.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ::close(fd);  // the file stays, nobody listens
  EXPECT_EQ(refusal("unix:" + path), "opened");
}

TEST_F(ListenSocketTest, APortInUseIsRefused) {
  ListenSocket first = ListenSocket::open("127.0.0.1:0", 16, "0660");
  sockaddr_in bound{};
  socklen_t length = sizeof bound;
  ASSERT_EQ(::getsockname(first.fd(), reinterpret_cast<sockaddr*>(&bound), &length), 0);
  const std::string spec = "127.0.0.1:" + std::to_string(ntohs(bound.sin_port));
  EXPECT_NE(refusal(spec).find("in use"), std::string::npos) << refusal(spec);
}

}  // namespace
}  // namespace cppapi
