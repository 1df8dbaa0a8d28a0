// SPDX-License-Identifier: MIT
// Test-only: what a child of a handler inherits. Runs `yes | head` through system()
// (it never ends when the child shell starts with SIGCHLD blocked or SIGPIPE ignored),
// then reports a child shell's open descriptors and its blocked and ignored signals.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "cppapi/call.hpp"

namespace {

constexpr const char* kReport =
    "for f in /proc/$$/fd/*; do echo \"fd ${f##*/} $(readlink \"$f\")\"; done; "
    "grep -E '^Sig(Blk|Ign):' /proc/$$/status";

std::string run_and_read(const char* command) {
  std::string output;
  std::FILE* pipe = ::popen(command, "r");
  if (!pipe) throw cppapi::HttpError{500, "popen failed"};
  char buffer[4096];
  for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, got);
  ::pclose(pipe);
  return output;
}

}  // namespace

CALL() {
  const int status = std::system("yes | head -n 1 > /dev/null");
  nlohmann::json report{{"system", status}, {"fds", nlohmann::json::array()}};
  const std::string text = run_and_read(kReport);
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? text.size() : end + 1;
    if (line.rfind("fd ", 0) == 0) report["fds"].push_back(line.substr(3));
    if (line.rfind("SigBlk:", 0) == 0) report["SigBlk"] = line.substr(line.find_first_not_of(" \t", 7));
    if (line.rfind("SigIgn:", 0) == 0) report["SigIgn"] = line.substr(line.find_first_not_of(" \t", 7));
  }
  return cppapi::Reply::json(report.dump());
}
