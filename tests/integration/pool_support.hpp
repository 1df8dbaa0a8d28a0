// SPDX-License-Identifier: MIT
// What the pool tests need beyond the harness: the PIDs of a master's workers, a
// steady HTTP load that counts failures, and a client that leaves mid-request.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness.hpp"

namespace cppapi::test {

/// The live (not zombie) children of `parent`, from /proc.
inline std::set<pid_t> child_pids(pid_t parent) {
  std::set<pid_t> children;
  std::error_code ignored;
  for (const auto& entry : fs::directory_iterator("/proc", ignored)) {
    const std::string name = entry.path().filename();
    pid_t pid = 0;
    if (std::from_chars(name.data(), name.data() + name.size(), pid).ec != std::errc{}) continue;
    // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so start after the last ')'.
    const std::string stat = read_file(entry.path() / "stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos || close + 4 >= stat.size()) continue;
    const char state = stat[close + 2];
    pid_t ppid = 0;
    const char* ppid_text = stat.data() + close + 4;
    std::from_chars(ppid_text, stat.data() + stat.size(), ppid);
    if (ppid == parent && state != 'Z') children.insert(pid);
  }
  return children;
}

/// True once `pid` no longer runs (gone, or a zombie nobody reaped yet).
inline bool pid_gone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  return stat.empty() || (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z');
}

/// Lines of a cppapi log that a sanitizer or a crash wrote.
/// (Kept for callers of this header; the harness's crash_lines() is the one list.)
inline std::vector<std::string> sanitizer_reports(std::string_view log, const std::vector<std::string>& expected = {}) {
  return crash_lines(log, expected);
}

/// `clients` threads each sending GET `url` in a loop (fresh connection each time)
/// until stop(); every reply that is not 200 or arrives incomplete is a failure.
class Load {
 public:
  Load(std::string url, int clients) : url_(std::move(url)) {
    for (int i = 0; i < clients; ++i) threads_.emplace_back([this] { run(); });
  }
  ~Load() { stop(); }
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  void stop() {
    stopping_ = true;
    for (auto& thread : threads_)
      if (thread.joinable()) thread.join();
  }
  std::uint64_t ok() const { return ok_.load(); }
  std::uint64_t failed() const { return failed_.load(); }
  /// Waits until `more` further replies succeeded; false after `timeout`.
  bool wait_for(std::uint64_t more, std::chrono::milliseconds timeout = 10s) const {
    const std::uint64_t target = ok() + more;
    return wait_until([&] { return ok() >= target; }, timeout);
  }
  /// The first few failures, for assertion messages.
  std::string failures() const {
    const std::lock_guard lock(mutex_);
    std::string text;
    for (const auto& failure : failures_) text += failure + "\n";
    return text;
  }

 private:
  void run() {
    while (!stopping_) {
      const HttpResponse response = http("GET", url_);
      if (response.status == 200 && response.curl_code == CURLE_OK && response.content_length == response.body.size()) {
        ++ok_;
        continue;
      }
      ++failed_;
      std::ostringstream text;
      text << response;
      const std::lock_guard lock(mutex_);
      if (failures_.size() < 10) failures_.push_back(text.str());
    }
  }

  std::string url_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> ok_{0};
  std::atomic<std::uint64_t> failed_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> failures_;
  std::vector<std::thread> threads_;
};

/// Sends a GET for `path` to 127.0.0.1:`port` and closes the connection after
/// `patience`, before the reply: a browser tab closed while the call runs.
inline void request_and_leave(int port, std::string_view path, std::chrono::milliseconds patience) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request = "GET " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    (void)!::write(fd, request.data(), request.size());
    std::this_thread::sleep_for(patience);
  }
  ::close(fd);
}

/// The last `count` lines of `text`, for failure output.
inline std::string last_lines(const std::string& text, std::size_t count) {
  std::size_t at = text.size();
  while (count-- > 0 && at > 0) at = text.rfind('\n', at - 1);
  return at == std::string::npos || at == 0 ? text : text.substr(at + 1);
}

/// A fixture's end for cppapi behind nginx: stop both by PID, cppapi must exit 0 with
/// no sanitizer report, and the ends of both logs are printed when the test failed.
/// `expected_lines`: crash lines a test caused on purpose (e.g. "killed by SIGABRT").
inline void stop_and_check(std::optional<NginxServer>& nginx, std::optional<CppapiServer>& cppapi,
                           const std::vector<std::string>& expected_lines = {}) {
  if (nginx) nginx->stop();
  if (cppapi) cppapi->stop_and_check(expected_lines);
  if (!::testing::Test::HasFailure()) return;
  if (cppapi) std::cerr << "--- cppapi log (end):\n" << last_lines(cppapi->log(), 60);
  if (nginx) std::cerr << "--- nginx error log (end):\n" << last_lines(nginx->error_log(), 20);
}

}  // namespace cppapi::test
