// SPDX-License-Identifier: MIT
#include "process/worker_observer.hpp"

#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace cppapi {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kMaxEntries = 1024;  // serving threads tracked by the slow log
constexpr std::size_t kUriBytes = 240;
constexpr int kMaxFrames = 64;
constexpr auto kCaptureWait = std::chrono::milliseconds(200);

// One capture at a time (the watchdog serializes them); written by the signal handler only.
void* g_frames[kMaxFrames];
std::atomic<int> g_frame_count{0};
std::atomic<bool> g_captured{false};

void capture_stack(int, siginfo_t*, void*) {
  const int saved_errno = errno;
  g_frame_count.store(::backtrace(g_frames, kMaxFrames), std::memory_order_relaxed);
  g_captured.store(true, std::memory_order_release);
  errno = saved_errno;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

}  // namespace

struct WorkerObserver::Entry {
  std::mutex mutex;  // uncontended: the serving thread at each request edge, the watchdog once per tick
  pthread_t thread{};
  std::int64_t started_ns = 0;  // 0: between requests
  std::uint64_t serial = 0;
  bool reported = false;
  std::size_t call = 0;
  std::size_t uri_length = 0;
  char uri[kUriBytes];
};

int WorkerObserver::stack_signal() { return SIGRTMIN + 3; }

WorkerObserver::WorkerObserver(Scoreboard& board, int slot, const Registry& registry, std::string prefix,
                               std::chrono::milliseconds slowlog_threshold)
    : board_(board), slot_(slot), registry_(registry), prefix_(std::move(prefix)), threshold_(slowlog_threshold) {
  if (threshold_.count() <= 0) return;
  void* warm_up[4];
  (void)::backtrace(warm_up, 4);  // loads libgcc_s now: backtrace() in a signal handler must not dlopen
  struct sigaction action {};
  action.sa_sigaction = capture_stack;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  ::sigaction(stack_signal(), &action, nullptr);
  entries_ = std::make_unique<Entry[]>(kMaxEntries);
  watchdog_ = std::thread([this] { watch(); });
}

WorkerObserver::~WorkerObserver() {
  stop_.store(true);
  if (watchdog_.joinable()) watchdog_.join();
}

std::size_t WorkerObserver::call_index(std::string_view request_uri) const {
  const std::size_t unknown = registry_.all().size();
  if (!request_uri.starts_with(prefix_)) return unknown;
  std::string_view name = request_uri.substr(prefix_.size());
  name = name.substr(0, name.find_first_of("&?"));
  const auto& calls = registry_.all();
  const auto found = std::lower_bound(
      calls.begin(), calls.end(), name,
      [](const detail::CallRecord* record, std::string_view key) { return std::string_view(record->name) < key; });
  if (found == calls.end() || std::string_view((*found)->name) != name) return unknown;
  return static_cast<std::size_t>(found - calls.begin());
}

RequestToken WorkerObserver::begin(std::string_view request_uri) noexcept {
  RequestToken token;
  const std::size_t call = call_index(request_uri);
  token.call = static_cast<std::uint32_t>(call);
  board_.begin(slot_, call);
  if (!entries_) return token;
  thread_local int entry_index = -1;  // -2: too many threads, not tracked
  if (entry_index == -2) return token;
  if (entry_index < 0) {
    const int next = claimed_.fetch_add(1);
    if (next >= kMaxEntries) {
      entry_index = -2;
      return token;
    }
    {
      const std::lock_guard lock(entries_[next].mutex);
      entries_[next].thread = ::pthread_self();
    }
    entry_index = next;
    int expected = next;  // entries become visible to the watchdog in order
    while (!registered_.compare_exchange_weak(expected, next + 1)) expected = next;
  }
  token.entry = entry_index;
  Entry& entry = entries_[entry_index];
  const std::lock_guard lock(entry.mutex);
  entry.started_ns = now_ns();
  ++entry.serial;
  entry.reported = false;
  entry.call = call;
  entry.uri_length = std::min(request_uri.size(), kUriBytes);
  std::memcpy(entry.uri, request_uri.data(), entry.uri_length);
  return token;
}

void WorkerObserver::end(RequestToken token, int status, std::chrono::nanoseconds elapsed) noexcept {
  board_.end(slot_, token.call, status, static_cast<std::uint64_t>(std::max<std::int64_t>(0, elapsed.count())));
  if (!entries_ || token.entry < 0) return;
  Entry& entry = entries_[token.entry];
  const std::lock_guard lock(entry.mutex);
  entry.started_ns = 0;
}

void WorkerObserver::watch() {
  const auto tick = std::clamp<std::chrono::milliseconds>(threshold_ / 5, std::chrono::milliseconds(10),
                                                          std::chrono::milliseconds(100));
  while (!stop_.load()) {
    std::this_thread::sleep_for(tick);
    const int count = std::min(registered_.load(), kMaxEntries);
    for (int i = 0; i < count; ++i) report(entries_[i], Clock::now());
  }
}

void WorkerObserver::report(Entry& entry, Clock::time_point) {
  pthread_t thread;
  std::uint64_t serial;
  std::int64_t started;
  std::string uri;
  {
    const std::lock_guard lock(entry.mutex);
    if (entry.started_ns == 0 || entry.reported || now_ns() - entry.started_ns < threshold_.count() * 1'000'000) return;
    entry.reported = true;
    thread = entry.thread;
    serial = entry.serial;
    started = entry.started_ns;
    uri.assign(entry.uri, entry.uri_length);
  }
  board_.count_slow(slot_);
  g_captured.store(false);
  std::vector<std::string> frames;
  bool same_request = false;
  if (::pthread_sigqueue(thread, stack_signal(), sigval{}) == 0) {
    const auto give_up = Clock::now() + kCaptureWait;
    while (!g_captured.load(std::memory_order_acquire) && Clock::now() < give_up)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    if (g_captured.load(std::memory_order_acquire)) {
      const int count = g_frame_count.load(std::memory_order_relaxed);
      // Frames 0 and 1 are the signal handler and the kernel's return trampoline.
      if (count > 2) frames = symbolize(g_frames + 2, count - 2);
      const std::lock_guard lock(entry.mutex);
      same_request = entry.serial == serial && entry.started_ns != 0;
    }
  }
  std::string_view rest = uri.starts_with(prefix_) ? std::string_view(uri).substr(prefix_.size()) : uri;
  const auto amp = rest.find('&');
  const std::string_view call = rest.substr(0, std::min(amp, rest.find('?')));
  const std::string_view arguments = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
  const double elapsed_ms = static_cast<double>(now_ns() - started) / 1e6;
  std::string stack;
  if (frames.empty())
    stack = " (no stack: the thread did not answer the signal)";
  else if (!same_request)
    stack = " (the request ended while its stack was taken; this stack may be of the next one)";
  for (const std::string& frame : frames) stack += "\n    " + frame;
  spdlog::warn(
      "slow request: call {} arguments \"{}\"{} running {:.0f} ms (slowlog_threshold {} ms) in worker {}; stack:{}",
      call, arguments, uri.size() >= kUriBytes ? " (cut)" : "", elapsed_ms, threshold_.count(), ::getpid(), stack);
}

std::vector<std::string> symbolize(void* const* frames, int count) {
  std::vector<std::string> lines;
  for (int i = 0; i < count; ++i) {
    Dl_info info{};
    std::string name;
    std::string where = "?";
    std::uintptr_t offset = 0;
    const auto address = reinterpret_cast<std::uintptr_t>(frames[i]);
    if (::dladdr(frames[i], &info) != 0) {
      if (info.dli_fname) where = info.dli_fname;
      if (info.dli_sname) {
        int status = 0;
        char* demangled = abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status);
        name = status == 0 && demangled ? demangled : info.dli_sname;
        std::free(demangled);
        offset = address - reinterpret_cast<std::uintptr_t>(info.dli_saddr);
      } else if (info.dli_fbase) {
        offset = address - reinterpret_cast<std::uintptr_t>(info.dli_fbase);
      }
    }
    if (!name.empty())
      lines.push_back(fmt::format("#{} {}+0x{:x} in {}", i, name, offset, where));
    else
      lines.push_back(fmt::format("#{} 0x{:x} ({}+0x{:x})", i, address, where, offset));
  }
  return lines;
}

}  // namespace cppapi
