// SPDX-License-Identifier: MIT
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
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

// A writer of the socket's folder swaps the fresh socket for a symlink to a file of
// root's before its owner and mode are set: neither may reach the file.
TEST_F(ListenSocketTest, OwnerAndModeNeverFollowASymlinkPlantedAfterBind) {
  static std::string target;
  target = dir_ + "/shadow";
  std::ofstream(target) << "secret";
  ASSERT_EQ(::chmod(target.c_str(), 0600), 0);
  struct stat before {};
  ASSERT_EQ(::stat(target.c_str(), &before), 0);
  detail::after_unix_bind_for_tests = [](const std::string& path) {
    ::unlink(path.c_str());
    ASSERT_EQ(::symlink(target.c_str(), path.c_str()), 0);
  };
  const bool root = ::geteuid() == 0;
  const uid_t nobody = root ? 65534 : static_cast<uid_t>(-1);
  const std::string path = dir_ + "/s.sock";
  try {
    ListenSocket socket = ListenSocket::open("unix:" + path, 16, "0666", nobody, nobody);
    struct stat made {};
    EXPECT_EQ(::lstat(path.c_str(), &made), 0);
    EXPECT_TRUE(S_ISSOCK(made.st_mode)) << "opened, but the path is not our socket";
    socket.disown_path();
  } catch (const std::runtime_error& error) {
    SUCCEED() << "refused: " << error.what();  // refusing is fine; touching the target is not
  }
  detail::after_unix_bind_for_tests = nullptr;
  struct stat after {};
  ASSERT_EQ(::stat(target.c_str(), &after), 0);
  EXPECT_EQ(after.st_mode & 07777, 0600u) << "the symlink's target got the socket's mode";
  EXPECT_EQ(after.st_uid, before.st_uid) << "the symlink's target got the socket's owner";
  EXPECT_EQ(after.st_gid, before.st_gid) << "the symlink's target got the socket's group";
}

/// In a child that became `nobody`: ListenSocket::open(spec)'s message, or "opened".
std::string open_as_nobody(const std::string& spec) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return "pipe failed";
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(pipe_fds[0]);
    std::string result = "opened";
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) {
      result = "cannot become nobody";
    } else {
      try {
        ListenSocket socket = ListenSocket::open(spec, 16, "0660");
        socket.disown_path();
      } catch (const std::runtime_error& error) {
        result = error.what();
      }
    }
    (void)!::write(pipe_fds[1], result.data(), result.size());
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string result;
  char buffer[512];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) result.append(buffer, n);
  ::close(pipe_fds[0]);
  ::waitpid(child, nullptr, 0);
  return result;
}

// connect() to another user's live socket that we may not use fails with EACCES: that
// socket is not stale, and must be neither unlinked nor replaced.
TEST_F(ListenSocketTest, AnotherUsersLiveSocketIsNotStale) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as two users";
  ASSERT_EQ(::chmod(dir_.c_str(), 0777), 0);  // a folder both may write
  const std::string path = dir_ + "/live.sock";
  ListenSocket owner = ListenSocket::open("unix:" + path, 16, "0600");  // root's, closed to nobody
  struct stat before {};
  ASSERT_EQ(::lstat(path.c_str(), &before), 0);

  const std::string result = open_as_nobody("unix:" + path);
  EXPECT_NE(result.find("permission denied"), std::string::npos) << result;

  struct stat after {};
  ASSERT_EQ(::lstat(path.c_str(), &after), 0) << "the live socket was removed";
  EXPECT_EQ(after.st_ino, before.st_ino) << "the live socket was replaced";
  EXPECT_EQ(after.st_uid, 0u);
  owner.close_and_remove();
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
