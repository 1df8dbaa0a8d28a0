// SPDX-License-Identifier: MIT
#include "core/log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
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
/// it); a file this process creates as root is handed to `owner` (the workers' user) so
/// that they can reopen it after a rotation too.
///
/// A root master must not be steered by whoever can write the log folder (the workers'
/// user, typically): it never follows a symbolic link, takes only a regular file with one
/// link, hands over only a file it has just created, and uses an existing file only if
/// root, the workers' user or this process's user owns it. As root it refuses a folder
/// that is group- or world-writable without the sticky bit.
class ReopenableFileSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  ReopenableFileSink(std::string path, LogFileOwner owner) : path_(std::move(path)), owner_(owner) {
    std::string why;
    file_ = open_file(why);
    if (!file_) throw std::runtime_error(fmt::format("log file {}: {}", path_, why));
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
  /// As root: refuses a folder others may write (they could swap the file under us).
  bool folder_is_safe(std::string& why) const {
    if (::geteuid() != 0) return true;
    std::filesystem::path folder = std::filesystem::path(path_).parent_path();
    if (folder.empty()) folder = ".";
    struct stat info {};
    if (::stat(folder.c_str(), &info) != 0) {
      why = fmt::format("folder {}: {}", folder.string(), std::strerror(errno));
      return false;
    }
    if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (info.st_mode & S_ISVTX) == 0) {
      why = fmt::format(
          "the folder {} is writable by others (mode {:04o}, group or world, without the sticky bit): "
          "anyone who can write it could make root write to another file; use a folder only root and the "
          "workers' user can write (0755)",
          folder.string(), info.st_mode & 07777);
      return false;
    }
    return true;
  }

  bool acceptable_owner(uid_t uid) const { return uid == 0 || uid == owner_.uid || uid == ::geteuid(); }

  /// The descriptor, or -1 with `why` set.
  int open_fd(std::string& why) const {
    if (!folder_is_safe(why)) return -1;
    constexpr int kFlags =
        O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;  // NONBLOCK: a FIFO never hangs us
    bool created = true;
    int fd = ::open(path_.c_str(), kFlags | O_CREAT | O_EXCL, 0640);
    if (fd < 0 && errno == EEXIST) {
      created = false;
      fd = ::open(path_.c_str(), kFlags);
    }
    if (fd < 0) {
      why = errno == ELOOP ? std::string("it is a symbolic link (refused)") : std::string(std::strerror(errno));
      return -1;
    }
    const auto refuse = [&](std::string reason) {
      ::close(fd);
      why = std::move(reason);
      return -1;
    };
    struct stat info {};
    if (::fstat(fd, &info) != 0) return refuse(std::strerror(errno));
    if (!S_ISREG(info.st_mode)) return refuse("not a regular file (refused)");
    if (info.st_nlink != 1)
      return refuse(fmt::format("it has {} hard links (refused: it may be another file)", info.st_nlink));
    if (!created && !acceptable_owner(info.st_uid))
      return refuse(fmt::format("owned by uid {}, neither root nor the workers' user (refused)", info.st_uid));
    const int status_flags = ::fcntl(fd, F_GETFL);
    if (status_flags < 0 || ::fcntl(fd, F_SETFL, status_flags & ~O_NONBLOCK) != 0) return refuse(std::strerror(errno));
    if (created && owner_.uid != static_cast<uid_t>(-1) && ::geteuid() == 0 &&
        ::fchown(fd, owner_.uid, owner_.gid) != 0)
      return refuse(fmt::format("chown: {}", std::strerror(errno)));
    return fd;
  }

  std::FILE* open_file(std::string& why) const {
    const int fd = open_fd(why);
    if (fd < 0) return nullptr;
    std::FILE* file = ::fdopen(fd, "a");
    if (!file) {
      why = std::strerror(errno);
      ::close(fd);
      return nullptr;
    }
    std::setvbuf(file, nullptr, _IOLBF, 0);
    return file;
  }

  void reopen() {
    std::string why;
    std::FILE* fresh = open_file(why);
    if (!fresh) {
      const std::string line =
          fmt::format("cannot reopen log file {}: {}; still writing to the file open before\n", path_, why);
      std::fwrite(line.data(), 1, line.size(), file_);
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
