// SPDX-License-Identifier: MIT
#include "process/retire_channel.hpp"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace cppapi {
namespace {

struct Message {
  pid_t pid;
  int kind;
  int reason;
};
static_assert(sizeof(Message) <= PIPE_BUF, "one write per message, never interleaved");

void wake_this_process_on_input(int fd) {
  ::fcntl(fd, F_SETOWN, ::getpid());
  ::fcntl(fd, F_SETSIG, retire_notice_signal());
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_ASYNC | O_NONBLOCK);
}

}  // namespace

int retire_notice_signal() { return SIGRTMIN; }

RetireChannel::RetireChannel() {
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC | O_NONBLOCK) != 0)
    throw std::runtime_error(std::string("retire channel: pipe: ") + std::strerror(errno));
  read_fd_ = ends[0];
  write_fd_ = ends[1];
  wake_this_process_on_input(read_fd_);
}

RetireChannel::RetireChannel(std::pair<int, int> ends) {
  if (ends.first < 0 || ends.second < 0 || ::fcntl(ends.first, F_GETFD) < 0 || ::fcntl(ends.second, F_GETFD) < 0) {
    RetireChannel fresh;
    std::swap(read_fd_, fresh.read_fd_);
    std::swap(write_fd_, fresh.write_fd_);
    return;
  }
  read_fd_ = ends.first;
  write_fd_ = ends.second;
  ::fcntl(read_fd_, F_SETFD, FD_CLOEXEC);
  ::fcntl(write_fd_, F_SETFD, FD_CLOEXEC);
  ::fcntl(write_fd_, F_SETFL, ::fcntl(write_fd_, F_GETFL) | O_NONBLOCK);
  wake_this_process_on_input(read_fd_);
}

RetireChannel::~RetireChannel() {
  close_master_end();
  if (write_fd_ >= 0) ::close(write_fd_);
}

void RetireChannel::close_master_end() {
  if (read_fd_ >= 0) ::close(read_fd_);
  read_fd_ = -1;
}

std::vector<WorkerNotice> RetireChannel::drain() {
  std::vector<WorkerNotice> notices;
  Message message{};
  while (read_fd_ >= 0 && ::read(read_fd_, &message, sizeof message) == static_cast<ssize_t>(sizeof message))
    notices.push_back(WorkerNotice{message.pid, static_cast<WorkerNotice::Kind>(message.kind),
                                   static_cast<RetireReason>(message.reason)});
  return notices;
}

namespace {

void send(int worker_end, WorkerNotice::Kind kind, int reason) {
  if (worker_end < 0) return;
  const Message message{::getpid(), static_cast<int>(kind), reason};
  (void)!::write(worker_end, &message, sizeof message);  // the master gone: EPIPE, nothing to tell
}

}  // namespace

void send_ready_notice(int worker_end) { send(worker_end, WorkerNotice::Kind::kReady, 0); }

void send_retire_notice(int worker_end, RetireReason reason) {
  send(worker_end, WorkerNotice::Kind::kRetiring, static_cast<int>(reason));
}

}  // namespace cppapi
