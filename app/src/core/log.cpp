// SPDX-License-Identifier: MIT
#include "core/log.hpp"

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
class ReopenableFileSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit ReopenableFileSink(std::string path) : path_(std::move(path)) {
    open();
    if (!file_) throw std::runtime_error(fmt::format("log file {}: {}", path_, std::strerror(errno)));
  }
  ~ReopenableFileSink() override {
    if (file_) std::fclose(file_);
  }
  void request_reopen() { reopen_.store(true, std::memory_order_relaxed); }

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    if (reopen_.exchange(false, std::memory_order_relaxed)) open();
    spdlog::memory_buf_t line;
    formatter_->format(message, line);
    if (file_) std::fwrite(line.data(), 1, line.size(), file_);
  }
  void flush_() override {
    if (file_) std::fflush(file_);
  }

 private:
  void open() {
    if (file_) std::fclose(file_);
    file_ = std::fopen(path_.c_str(), "a");
    if (file_) std::setvbuf(file_, nullptr, _IOLBF, 0);
  }

  std::string path_;
  std::FILE* file_ = nullptr;
  std::atomic<bool> reopen_{false};
};

std::shared_ptr<ReopenableFileSink> g_file_sink;
std::shared_ptr<spdlog::logger> g_access;

}  // namespace

void setup_logging(const std::string& path, bool access_log) {
  spdlog::sink_ptr sink;
  if (path.empty()) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    g_file_sink.reset();
  } else {
    g_file_sink = std::make_shared<ReopenableFileSink>(path);
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
