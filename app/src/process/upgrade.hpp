// SPDX-License-Identifier: MIT
#pragma once
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace cppapi {

/// SIGUSR2 to a master: replace the binary in place (same PID). See docs/upgrade.md.
/// 1. `try_new_binary`: the file the master was started from (argv[0] made absolute at
///    start; a symlink is not resolved, so switching it picks the new build) must answer
///    `--version` and then start as this master did (same arguments and environment)
///    in trial mode: it loads and checks its settings, opens its log, becomes the
///    workers' user and exits 0 where it would start serving. Anything else (missing,
///    not executable, a non-zero exit, a crash, a timeout) refuses the upgrade.
/// 2. `exec_new_binary`: the master exec()s the new binary with the listening socket
///    left open and the PIDs of its workers in the environment; the new image adopts the
///    socket, starts its workers and tells the old ones (its children still) to finish.

/// Remember argv and the absolute path of argv[0], before anything changes the directory.
void remember_invocation(int argc, char** argv);
/// The file a SIGUSR2 runs.
const std::string& upgrade_path();

/// How the master holds its listener, for the new image.
struct UpgradeListener {
  int fd = -1;
  std::string spec;               ///< "unix:/path" or "host:port": a socket cppapi opened
  bool socket_activated = false;  ///< fd 3 from systemd: passed on as LISTEN_FDS again
};

/// Empty when the new binary passed both checks; otherwise why not, in one line.
/// `version` gets the first line the new binary printed for `--version`.
/// The trial may take `start_timeout` (and a margin) to have its worker ready.
std::string try_new_binary(const UpgradeListener& listener, std::string& version,
                           std::chrono::milliseconds start_timeout);
/// exec()s the new binary in place. Returns (why) only if exec() failed; then nothing changed.
/// `retire_channel` (the master's {read, write} ends) stays open across exec(): the
/// previous workers' notices still reach the new image (take_inherited_retire_channel).
std::string exec_new_binary(const UpgradeListener& listener, const std::vector<pid_t>& workers,
                            std::pair<int, int> retire_channel);

/// In the process started by try_new_binary: true (stop where serving would start, exit 0).
bool upgrade_trial();
/// A listener handed over by exec_new_binary (or the trial): its fd and spec; the
/// environment entries are removed.
std::optional<UpgradeListener> take_inherited_listener();
/// The workers of the image before exec_new_binary (children of this process); the
/// environment entry is removed.
std::vector<pid_t> take_adopted_workers();
/// The retire channel exec_new_binary kept open, {read, write}, or {-1, -1}; the
/// environment entry is removed.
std::pair<int, int> take_inherited_retire_channel();

}  // namespace cppapi
