// SPDX-License-Identifier: MIT
// How a worker tells its master that it serves (its threads run and the listening
// socket is in their accept set: a reload or an upgrade waits for that before it stops
// the previous workers) and that it retires by itself (max_requests, request_timeout):
// a message on a pipe. A signal would not do: a worker that dropped
// root may not signal a master that kept it. The master is woken all the same: the
// pipe's read end raises retire_notice_signal() when a message arrives (O_ASYNC).
#pragma once
#include <sys/types.h>

#include <utility>
#include <vector>

#include "core/retire_reason.hpp"

namespace cppapi {

struct WorkerNotice {
  enum class Kind { kReady = 1, kRetiring = 2 };
  pid_t pid;
  Kind kind;
  RetireReason reason;  ///< kRetiring only
};

class RetireChannel {
 public:
  /// A pipe whose read end signals this process with retire_notice_signal(). Throws
  /// std::runtime_error if the pipe cannot be made.
  RetireChannel();
  /// The channel of the image before an upgrade's exec() (inherited_retire_channel()),
  /// taken over as is: the previous workers keep writing to it. A new pipe if `ends` is
  /// {-1, -1}.
  explicit RetireChannel(std::pair<int, int> ends);
  ~RetireChannel();
  RetireChannel(const RetireChannel&) = delete;
  RetireChannel& operator=(const RetireChannel&) = delete;

  /// The end a worker writes to (close-on-exec, non-blocking).
  int worker_end() const { return write_fd_; }
  /// In a forked worker: the master's end is none of its business.
  void close_master_end();
  /// Both ends, {read, write}, for an upgrade's exec() to keep open.
  std::pair<int, int> ends() const { return {read_fd_, write_fd_}; }
  /// The notices that arrived so far (never blocks).
  std::vector<WorkerNotice> drain();

 private:
  int read_fd_ = -1;
  int write_fd_ = -1;
};

/// From a worker: it serves now (ignored when `worker_end` is -1).
void send_ready_notice(int worker_end);
/// From a worker: it retires for `reason` (ignored when `worker_end` is -1).
void send_retire_notice(int worker_end, RetireReason reason);

/// The signal the pipe raises in the master (SIGRTMIN); SIGIO too if the realtime
/// queue were ever full.
int retire_notice_signal();

}  // namespace cppapi
