// SPDX-License-Identifier: MIT
#include "process/fd_hygiene.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace cppapi {
namespace {

constexpr int kFirstFreeFd = 3;

/// Fd 0 must stay open across exec(): a program finding it closed would take the
/// next file it opens for its standard input.
void put_dev_null_on_stdin() {
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) throw std::runtime_error(std::string("/dev/null: ") + std::strerror(errno));
  if (null_fd == STDIN_FILENO) {
    ::fcntl(STDIN_FILENO, F_SETFD, 0);
  } else {
    ::dup2(null_fd, STDIN_FILENO);  // dup2 leaves fd 0 without close-on-exec
    ::close(null_fd);
  }
}

}  // namespace

int adopt_inherited_listener(int fd) {
  if (fd != STDIN_FILENO) {
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
  }
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, kFirstFreeFd);
  if (moved < 0) throw std::runtime_error(std::string("moving the listener off fd 0: ") + std::strerror(errno));
  ::close(STDIN_FILENO);
  put_dev_null_on_stdin();
  return moved;
}

}  // namespace cppapi
