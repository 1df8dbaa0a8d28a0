// SPDX-License-Identifier: MIT
// Test-only: what a child of a handler inherits. Runs `yes | head` through system(), then
// reports, from programs started with posix_spawn() (as system() and popen() start
// theirs, with the calling thread's signal mask; a shell would clear its own mask
// first and hide it), the blocked and ignored signals and the open descriptors.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cppapi/call.hpp"

extern char** environ;

namespace {

/// The standard output of `argv` run with posix_spawn().
std::string spawn_and_read(std::vector<const char*> argv) {
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) != 0) throw cppapi::HttpError{500, "pipe failed"};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, ends[1], STDOUT_FILENO);
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int failed = ::posix_spawn(&pid, argv[0], &actions, nullptr, const_cast<char**>(argv.data()), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(ends[1]);
  std::string output;
  char buffer[4096];
  for (ssize_t got; (got = ::read(ends[0], buffer, sizeof buffer)) > 0;) output.append(buffer, got);
  ::close(ends[0]);
  if (failed != 0) throw cppapi::HttpError{500, "posix_spawn failed"};
  int status = 0;
  ::waitpid(pid, &status, 0);
  return output;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

CALL() {
  const int status = std::system("yes | head -n 1 > /dev/null");
  nlohmann::json report{{"system", status}, {"fds", nlohmann::json::array()}};
  for (const std::string& line : lines_of(spawn_and_read({"/bin/grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"}))) {
    const std::size_t value = line.find_first_not_of(" \t", 7);
    report[line.substr(0, 6)] = value == std::string::npos ? "" : line.substr(value);
  }
  // find's own descriptors point into /proc; anything else came from cppapi.
  for (const std::string& line :
       lines_of(spawn_and_read({"/usr/bin/find", "/proc/self/fd/", "-mindepth", "1", "-printf", "%f %l\\n"})))
    if (line.find("/proc/") == std::string::npos) report["fds"].push_back(line);
  return cppapi::Reply::json(report.dump());
}
