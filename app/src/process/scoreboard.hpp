// SPDX-License-Identifier: MIT
// The pool's counters, in one anonymous MAP_SHARED mapping the master makes before
// it forks: one fixed-size slot per worker, each written only by its worker (relaxed
// atomics, no locks) and read by the master's status thread. A worker that ends
// (crash, recycling, reload, timeout) leaves its slot behind; the master folds it
// into its own totals before the slot is used again, so no count is lost or counted
// twice. Requests the worker had in flight when it died are counted as nginx saw
// them: status 502, in the histogram's +Inf bucket (their duration is unknown).
#pragma once
#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cppapi {

/// The statuses counted one by one; any other counts under its class ("4xx").
inline constexpr std::array<int, 34> kCountedStatuses = {200, 201, 202, 204, 206, 301, 302, 303, 304, 307, 308, 400,
                                                         401, 403, 404, 405, 406, 408, 409, 410, 411, 412, 413, 414,
                                                         415, 416, 422, 429, 431, 500, 501, 502, 503, 504};
inline constexpr std::size_t kStatusKinds = kCountedStatuses.size() + 5;  // + 1xx..5xx for the others
/// Index of `status` in the per-call status counters.
std::size_t status_index(int status);
/// "200", or "4xx" for a status counted by class.
std::string status_label(std::size_t index);

/// Histogram bucket upper bounds in seconds; the last bucket (+Inf) comes after them.
inline constexpr std::array<double, 13> kBucketBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                         0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
inline constexpr std::size_t kBuckets = kBucketBounds.size() + 1;
std::size_t bucket_index(std::uint64_t nanoseconds);

/// Plain (private) counters of one call.
struct CallTotals {
  std::array<std::uint64_t, kStatusKinds> by_status{};
  std::array<std::uint64_t, kBuckets> buckets{};  ///< not cumulative
  std::uint64_t duration_ns = 0;
  std::uint64_t requests() const;
  CallTotals& operator+=(const CallTotals& other);
};

enum class SlotState : std::uint32_t { kFree = 0, kStarting = 1, kRunning = 2, kRetiring = 3 };
std::string_view describe(SlotState state);

/// A live worker as the status page shows it.
struct WorkerView {
  pid_t pid = 0;
  std::int64_t started_unix = 0;
  std::uint64_t requests = 0;
  std::int64_t active = 0;
  std::uint64_t slow = 0;
  SlotState state = SlotState::kFree;
};

class Scoreboard {
 public:
  /// `calls` counters per slot (the registry's calls + 1 for unknown names).
  Scoreboard(std::size_t slots, std::size_t calls);
  ~Scoreboard();
  Scoreboard(const Scoreboard&) = delete;
  Scoreboard& operator=(const Scoreboard&) = delete;

  std::size_t slots() const { return slots_; }
  std::size_t calls() const { return calls_; }

  // ---- the master
  /// A free slot, now kStarting and zeroed; -1 when none is free.
  int claim();
  void set_pid(int slot, pid_t pid);
  void set_state(int slot, SlotState state);
  SlotState state(int slot) const;
  pid_t pid(int slot) const;
  /// Adds the slot's counts to `totals` (calls() entries) and its in-flight requests as
  /// 502s, then frees it. Returns {requests, slow} folded, the in-flight ones included.
  struct Folded {
    std::uint64_t requests = 0;
    std::uint64_t in_flight = 0;
    std::uint64_t slow = 0;
  };
  Folded fold_and_free(int slot, std::vector<CallTotals>& totals);
  /// Adds every live slot's counts to `totals`.
  void add_live(std::vector<CallTotals>& totals) const;
  std::vector<WorkerView> workers() const;
  std::int64_t active() const;
  std::uint64_t slow() const;

  // ---- the worker owning `slot`
  void begin(int slot, std::size_t call) noexcept;
  void end(int slot, std::size_t call, int status, std::uint64_t nanoseconds) noexcept;
  void count_slow(int slot) noexcept;

 private:
  struct CallCounters;
  struct SlotHeader;
  SlotHeader& header(int slot) const;
  CallCounters& counters(int slot, std::size_t call) const;

  std::size_t slots_;
  std::size_t calls_;
  std::size_t slot_bytes_;
  std::size_t bytes_;
  char* base_ = nullptr;
};

}  // namespace cppapi
