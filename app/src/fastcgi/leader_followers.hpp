// SPDX-License-Identifier: MIT
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace cppapi {

/// Leader/followers over one event source (the responder's epoll set).
///
/// One thread at a time leads: it polls for work and serves what it finds itself, one
/// item after another, while the others sleep. On fast calls T threads then cost what one
/// does: no sleeping thread is woken per request, and a leader that comes back to the poll
/// finds the events that arrived meanwhile waiting for it (one epoll_wait for many).
///
/// When the items found are worth more than a wake-up (how many wait, times how long the
/// calls took lately, note_call_time(), above kBacklogWorthAWakeUp), a follower is woken to
/// help: it takes found items without leading, so calls that each cost CPU still use every
/// core. The calls' time, not the whole item's: reading and writing a fast call's request
/// costs a few system calls, which a wake-up would cost again.
///
/// A slow call must not hold up the others, so the leader gives the role to a sleeping
/// follower before it serves something that may take long (hand_off()), and a monitor
/// thread takes the role from a leader that has been serving one item for longer than
/// `patience` (a call that turned slow, or a stuck handler). Items the old leader had
/// found but not reached yet go with the role.
///
/// The monitor ticks every `patience` while items are being served and sleeps after a
/// quiet spell, so an idle process has no timer waking it.
template <typename Item>
class LeaderFollowers {
 public:
  using Clock = std::chrono::steady_clock;
  /// One per thread: the leader's term it holds, 0 when it is not leading.
  struct Ticket {
    std::uint64_t term = 0;
  };
  static constexpr std::chrono::microseconds kBacklogWorthAWakeUp{100};

  explicit LeaderFollowers(std::chrono::microseconds patience) : patience_(patience) {
    monitor_ = std::thread([this] { monitor(); });
  }
  ~LeaderFollowers() {
    {
      const std::lock_guard lock(mutex_);
      monitor_stop_ = true;
    }
    monitor_wake_.notify_all();
    monitor_.join();
  }
  LeaderFollowers(const LeaderFollowers&) = delete;
  LeaderFollowers& operator=(const LeaderFollowers&) = delete;

  /// Waits until this thread leads, then returns the next item: one found earlier, else
  /// what poll(found) finds. `poll` runs on the leader alone and without the lock; it
  /// appends the items it found (possibly none, e.g. after a timeout) and returns false
  /// once the threads should leave. Returns nullptr once they should.
  template <typename Poll>
  Item* next(Ticket& ticket, Poll&& poll) {
    std::unique_lock lock(mutex_);
    while (true) {
      if (ticket.term != term_) ticket.term = 0;  // the monitor took the role meanwhile
      if (finished_) {
        if (ticket.term != 0) leading_ = false;
        ticket.term = 0;
        return nullptr;
      }
      if (ticket.term == 0) {
        if (next_found_ < found_.size()) return take(ticket);  // woken to help with what the leader found
        if (leading_) {
          wake_monitor();  // a leader stuck in a call must not keep this one asleep for good
          ++sleeping_;
          followers_.wait(lock);
          --sleeping_;
          continue;
        }
        leading_ = true;
        ticket.term = ++term_;
      }
      if (next_found_ < found_.size()) return take(ticket);
      polling_ = true;
      lock.unlock();
      const bool go_on = poll(batch_);  // batch_ is the leader's alone
      lock.lock();
      polling_ = false;
      found_.insert(found_.end(), batch_.begin(), batch_.end());
      batch_.clear();
      if (!go_on) {
        finished_ = true;
        followers_.notify_all();
      }
    }
  }

  /// How long a call took (a moving average of these weighs the items found).
  void note_call_time(std::chrono::nanoseconds took) {
    const std::int64_t average = call_nanos_.load(std::memory_order_relaxed);
    call_nanos_.store(average + (took.count() - average) / 8, std::memory_order_relaxed);  // a lost update is harmless
  }

  /// Before serving something that may be slow: a sleeping follower leads from now on.
  void hand_off(Ticket& ticket) {
    const std::lock_guard lock(mutex_);
    if (ticket.term == 0 || ticket.term != term_) return;
    ticket.term = 0;
    resign();
  }

  /// How many times the monitor took the role from a leader (for tests).
  std::uint64_t revoked() const {
    const std::lock_guard lock(mutex_);
    return revoked_;
  }

 private:
  // Under the lock. The role is free; the next thread to come back to next() takes it if
  // no follower sleeps.
  void resign() {
    leading_ = false;
    ++term_;
    if (sleeping_ > 0) followers_.notify_one();
  }

  // Under the lock, an item left in found_.
  Item* take(Ticket& ticket) {
    Item* item = found_[next_found_++];
    if (next_found_ == found_.size()) {
      found_.clear();  // keeps its capacity: no allocation per poll
      next_found_ = 0;
    }
    if (ticket.term != 0) serving_since_ = Clock::now();
    ++taken_;
    wake_monitor();
    const auto waiting = static_cast<std::int64_t>(found_.size() - next_found_);
    const auto backlog = waiting * call_nanos_.load(std::memory_order_relaxed);
    if (sleeping_ > 0 && backlog > std::chrono::nanoseconds(kBacklogWorthAWakeUp).count()) followers_.notify_one();
    return item;
  }

  void wake_monitor() {
    if (!monitor_asleep_) return;
    monitor_asleep_ = false;
    monitor_wake_.notify_one();
  }

  void monitor() {
    constexpr int kQuietTicks = 50;  // then sleep until an item is taken again
    std::unique_lock lock(mutex_);
    std::uint64_t seen = taken_;
    int quiet = 0;
    while (!monitor_stop_) {
      if (quiet >= kQuietTicks) {
        monitor_asleep_ = true;
        monitor_wake_.wait(lock, [this] { return monitor_stop_ || !monitor_asleep_; });
        quiet = 0;
        continue;
      }
      monitor_wake_.wait_for(lock, patience_);
      if (monitor_stop_) break;
      if (leading_ && !polling_ && !finished_ && sleeping_ > 0 && Clock::now() - serving_since_ >= patience_) {
        ++revoked_;
        resign();
      }
      const bool serving = leading_ && !polling_;
      quiet = taken_ == seen && !serving ? quiet + 1 : 0;
      seen = taken_;
    }
  }

  const std::chrono::microseconds patience_;
  mutable std::mutex mutex_;  // guards everything below but the monitor thread
  std::condition_variable followers_;
  std::condition_variable monitor_wake_;
  std::vector<Item*> found_;  // found by polls; those from next_found_ on are not taken yet
  std::size_t next_found_ = 0;
  std::vector<Item*> batch_;
  std::uint64_t term_ = 0;
  bool leading_ = false;
  bool polling_ = false;
  bool finished_ = false;
  int sleeping_ = 0;
  Clock::time_point serving_since_{};
  std::uint64_t taken_ = 0;
  std::atomic<std::int64_t> call_nanos_{0};  // how long a call took lately (moving average)
  std::uint64_t revoked_ = 0;
  bool monitor_asleep_ = false;
  bool monitor_stop_ = false;
  std::thread monitor_;
};

}  // namespace cppapi
