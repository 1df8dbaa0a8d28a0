// SPDX-License-Identifier: MIT
#include "process/scoreboard.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <new>
#include <stdexcept>

#include <fmt/format.h>

namespace cppapi {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;
constexpr std::size_t kLine = 64;

std::size_t round_up(std::size_t bytes) { return (bytes + kLine - 1) / kLine * kLine; }

}  // namespace

std::size_t status_index(int status) {
  const auto found = std::find(kCountedStatuses.begin(), kCountedStatuses.end(), status);
  if (found != kCountedStatuses.end()) return static_cast<std::size_t>(found - kCountedStatuses.begin());
  const int status_class = std::clamp(status / 100, 1, 5);
  return kCountedStatuses.size() + static_cast<std::size_t>(status_class - 1);
}

std::string status_label(std::size_t index) {
  if (index < kCountedStatuses.size()) return std::to_string(kCountedStatuses[index]);
  return fmt::format("{}xx", index - kCountedStatuses.size() + 1);
}

std::size_t bucket_index(std::uint64_t nanoseconds) {
  const double seconds = static_cast<double>(nanoseconds) / 1e9;
  return static_cast<std::size_t>(std::lower_bound(kBucketBounds.begin(), kBucketBounds.end(), seconds) -
                                  kBucketBounds.begin());
}

std::uint64_t CallTotals::requests() const {
  std::uint64_t sum = 0;
  for (const std::uint64_t count : by_status) sum += count;
  return sum;
}

CallTotals& CallTotals::operator+=(const CallTotals& other) {
  for (std::size_t i = 0; i < kStatusKinds; ++i) by_status[i] += other.by_status[i];
  for (std::size_t i = 0; i < kBuckets; ++i) buckets[i] += other.buckets[i];
  duration_ns += other.duration_ns;
  return *this;
}

std::string_view describe(SlotState state) {
  switch (state) {
    case SlotState::kFree:
      return "free";
    case SlotState::kStarting:
      return "starting";
    case SlotState::kRunning:
      return "running";
    case SlotState::kRetiring:
      return "retiring";
  }
  return "unknown";
}

// Lock-free atomics on plain shared memory: the same object in every process.
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::int64_t>::is_always_lock_free);

struct Scoreboard::CallCounters {
  std::atomic<std::uint64_t> by_status[kStatusKinds];
  std::atomic<std::uint64_t> buckets[kBuckets];
  std::atomic<std::uint64_t> duration_ns;
  std::atomic<std::int64_t> in_flight;
};

struct Scoreboard::SlotHeader {
  std::atomic<std::uint32_t> state;
  std::atomic<std::int32_t> pid;
  std::atomic<std::int64_t> started_unix;
  std::atomic<std::uint64_t> requests;
  std::atomic<std::int64_t> active;
  std::atomic<std::uint64_t> slow;
};

Scoreboard::Scoreboard(std::size_t slots, std::size_t calls)
    : slots_(slots),
      calls_(calls),
      slot_bytes_(round_up(sizeof(SlotHeader)) + calls * round_up(sizeof(CallCounters))),
      bytes_(slots * slot_bytes_) {
  // Zero-filled by the kernel, which is every atomic's zero; pages are only touched when used.
  void* memory = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) throw std::runtime_error(fmt::format("scoreboard: mmap: {}", std::strerror(errno)));
  base_ = static_cast<char*>(memory);
  for (std::size_t slot = 0; slot < slots_; ++slot) {
    new (&header(static_cast<int>(slot))) SlotHeader{};
    for (std::size_t call = 0; call < calls_; ++call) new (&counters(static_cast<int>(slot), call)) CallCounters{};
  }
}

Scoreboard::~Scoreboard() { ::munmap(base_, bytes_); }

Scoreboard::SlotHeader& Scoreboard::header(int slot) const {
  return *reinterpret_cast<SlotHeader*>(base_ + static_cast<std::size_t>(slot) * slot_bytes_);
}

Scoreboard::CallCounters& Scoreboard::counters(int slot, std::size_t call) const {
  return *reinterpret_cast<CallCounters*>(base_ + static_cast<std::size_t>(slot) * slot_bytes_ +
                                          round_up(sizeof(SlotHeader)) + call * round_up(sizeof(CallCounters)));
}

int Scoreboard::claim() {
  for (std::size_t i = 0; i < slots_; ++i) {
    const int slot = static_cast<int>(i);
    SlotHeader& head = header(slot);
    if (head.state.load() != static_cast<std::uint32_t>(SlotState::kFree)) continue;
    head.pid.store(0);
    head.requests.store(0);
    head.active.store(0);
    head.slow.store(0);
    head.started_unix.store(static_cast<std::int64_t>(std::time(nullptr)));
    for (std::size_t call = 0; call < calls_; ++call) {
      CallCounters& c = counters(slot, call);
      for (auto& count : c.by_status) count.store(0, kRelaxed);
      for (auto& count : c.buckets) count.store(0, kRelaxed);
      c.duration_ns.store(0, kRelaxed);
      c.in_flight.store(0, kRelaxed);
    }
    head.state.store(static_cast<std::uint32_t>(SlotState::kStarting));  // seq_cst: after the zeroing
    return slot;
  }
  return -1;
}

void Scoreboard::set_pid(int slot, pid_t pid) { header(slot).pid.store(pid); }
void Scoreboard::set_state(int slot, SlotState state) { header(slot).state.store(static_cast<std::uint32_t>(state)); }
SlotState Scoreboard::state(int slot) const { return static_cast<SlotState>(header(slot).state.load()); }
pid_t Scoreboard::pid(int slot) const { return header(slot).pid.load(); }

Scoreboard::Folded Scoreboard::fold_and_free(int slot, std::vector<CallTotals>& totals) {
  Folded folded;
  const std::size_t bad_gateway = status_index(502);
  for (std::size_t call = 0; call < calls_; ++call) {
    const CallCounters& c = counters(slot, call);
    CallTotals& total = totals[call];
    for (std::size_t i = 0; i < kStatusKinds; ++i) {
      const std::uint64_t count = c.by_status[i].load(kRelaxed);
      total.by_status[i] += count;
      folded.requests += count;
    }
    for (std::size_t i = 0; i < kBuckets; ++i) total.buckets[i] += c.buckets[i].load(kRelaxed);
    total.duration_ns += c.duration_ns.load(kRelaxed);
    // Killed mid-request: nginx answered 502 for each; their duration is unknown.
    const std::int64_t in_flight = std::max<std::int64_t>(0, c.in_flight.load(kRelaxed));
    total.by_status[bad_gateway] += static_cast<std::uint64_t>(in_flight);
    total.buckets[kBuckets - 1] += static_cast<std::uint64_t>(in_flight);
    folded.in_flight += static_cast<std::uint64_t>(in_flight);
  }
  folded.requests += folded.in_flight;
  folded.slow = header(slot).slow.load();
  header(slot).state.store(static_cast<std::uint32_t>(SlotState::kFree));
  return folded;
}

void Scoreboard::add_live(std::vector<CallTotals>& totals) const {
  for (std::size_t i = 0; i < slots_; ++i) {
    const int slot = static_cast<int>(i);
    if (state(slot) == SlotState::kFree) continue;
    for (std::size_t call = 0; call < calls_; ++call) {
      const CallCounters& c = counters(slot, call);
      CallTotals& total = totals[call];
      for (std::size_t k = 0; k < kStatusKinds; ++k) total.by_status[k] += c.by_status[k].load(kRelaxed);
      for (std::size_t k = 0; k < kBuckets; ++k) total.buckets[k] += c.buckets[k].load(kRelaxed);
      total.duration_ns += c.duration_ns.load(kRelaxed);
    }
  }
}

std::vector<WorkerView> Scoreboard::workers() const {
  std::vector<WorkerView> views;
  for (std::size_t i = 0; i < slots_; ++i) {
    const int slot = static_cast<int>(i);
    const SlotState slot_state = state(slot);
    if (slot_state == SlotState::kFree) continue;
    const SlotHeader& head = header(slot);
    views.push_back(WorkerView{head.pid.load(), head.started_unix.load(), head.requests.load(kRelaxed),
                               std::max<std::int64_t>(0, head.active.load(kRelaxed)), head.slow.load(kRelaxed),
                               slot_state});
  }
  return views;
}

std::int64_t Scoreboard::active() const {
  std::int64_t sum = 0;
  for (std::size_t i = 0; i < slots_; ++i)
    if (state(static_cast<int>(i)) != SlotState::kFree)
      sum += std::max<std::int64_t>(0, header(static_cast<int>(i)).active.load(kRelaxed));
  return sum;
}

std::uint64_t Scoreboard::slow() const {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < slots_; ++i)
    if (state(static_cast<int>(i)) != SlotState::kFree) sum += header(static_cast<int>(i)).slow.load(kRelaxed);
  return sum;
}

void Scoreboard::begin(int slot, std::size_t call) noexcept {
  counters(slot, call).in_flight.fetch_add(1, kRelaxed);
  header(slot).active.fetch_add(1, kRelaxed);
}

void Scoreboard::end(int slot, std::size_t call, int status, std::uint64_t nanoseconds) noexcept {
  CallCounters& c = counters(slot, call);
  c.buckets[bucket_index(nanoseconds)].fetch_add(1, kRelaxed);
  c.duration_ns.fetch_add(nanoseconds, kRelaxed);
  c.by_status[status_index(status)].fetch_add(1, kRelaxed);
  c.in_flight.fetch_sub(1, kRelaxed);
  SlotHeader& head = header(slot);
  head.requests.fetch_add(1, kRelaxed);
  head.active.fetch_sub(1, kRelaxed);
}

void Scoreboard::count_slow(int slot) noexcept { header(slot).slow.fetch_add(1, kRelaxed); }

}  // namespace cppapi
