// SPDX-License-Identifier: MIT
#include "core/log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace cppapi {
namespace {

/// A file sink that reopens its file when asked. The reopen happens inside a normal
/// write, under the sink's own lock, so a signal never touches the stream directly.
/// A reopen that fails keeps the file already open and says so in it: logging never
/// stops silently. The descriptor is close-on-exec (a program a call runs never gets
/// it); a file opened as root is handed to `owner` (the workers' user) so that they can
/// reopen it after a rotation too.
class ReopenableFileSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  ReopenableFileSink(std::string path, LogFileOwner owner) : path_(std::move(path)), owner_(owner) {
    file_ = open_file();
    if (!file_) throw std::runtime_error(fmt::format("log file {}: {}", path_, std::strerror(errno)));
  }
  ~ReopenableFileSink() override {
    if (file_) std::fclose(file_);
  }
  void request_reopen() { reopen_.store(true, std::memory_order_relaxed); }

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    if (reopen_.exchange(false, std::memory_order_relaxed)) reopen();
    spdlog::memory_buf_t line;
    formatter_->format(message, line);
    std::fwrite(line.data(), 1, line.size(), file_);
  }
  void flush_() override { std::fflush(file_); }

 private:
  std::FILE* open_file() const {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return nullptr;
    if (owner_.uid != static_cast<uid_t>(-1) && ::geteuid() == 0) (void)!::fchown(fd, owner_.uid, owner_.gid);
    std::FILE* file = ::fdopen(fd, "a");
    if (!file) {
      ::close(fd);
      return nullptr;
    }
    std::setvbuf(file, nullptr, _IOLBF, 0);
    return file;
  }

  void reopen() {
    std::FILE* fresh = open_file();
    if (!fresh) {
      const std::string why = fmt::format("cannot reopen log file {}: {}; still writing to the file open before\n",
                                          path_, std::strerror(errno));
      std::fwrite(why.data(), 1, why.size(), file_);
      return;
    }
    std::fclose(file_);
    file_ = fresh;
  }

  std::string path_;
  LogFileOwner owner_;
  std::FILE* file_ = nullptr;
  std::atomic<bool> reopen_{false};
};

std::shared_ptr<ReopenableFileSink> g_file_sink;
std::shared_ptr<spdlog::logger> g_access;

}  // namespace

void setup_logging(const std::string& path, bool access_log, LogFileOwner owner) {
  spdlog::sink_ptr sink;
  if (path.empty()) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    g_file_sink.reset();
  } else {
    g_file_sink = std::make_shared<ReopenableFileSink>(path, owner);
    sink = g_file_sink;
  }
  sink->set_pattern("%Y-%m-%d %H:%M:%S.%e %l [%P] %v");
  auto main_logger = std::make_shared<spdlog::logger>("cppapi", sink);
  main_logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(main_logger);
  g_access = access_log ? std::make_shared<spdlog::logger>("access", sink) : nullptr;
  if (g_access) g_access->flush_on(spdlog::level::info);
}

void request_log_reopen() {
  if (g_file_sink) g_file_sink->request_reopen();
}

void log_access(std::string_view method, std::string_view call, int status, std::size_t bytes,
                std::chrono::microseconds elapsed) {
  if (!g_access) return;
  g_access->info("{} {} {} {}B {}us", method, call.empty() ? "-" : call, status, bytes, elapsed.count());
}

}  // namespace cppapi
