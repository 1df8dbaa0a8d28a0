// SPDX-License-Identifier: MIT
#include "process/exit_status.hpp"

#include <sys/wait.h>

#include <cstring>

#include <fmt/format.h>

namespace cppapi {

std::string signal_name(int signal_number) {
  const char* abbreviation = ::sigabbrev_np(signal_number);
  return abbreviation ? fmt::format("SIG{}", abbreviation) : fmt::format("signal {}", signal_number);
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return fmt::format("killed by {}{}", signal_name(WTERMSIG(status)), WCOREDUMP(status) ? " (core dumped)" : "");
  return fmt::format("ended with wait status {}", status);
}

}  // namespace cppapi
