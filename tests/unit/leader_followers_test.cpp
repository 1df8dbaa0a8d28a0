// SPDX-License-Identifier: MIT
// Leader/followers (fastcgi/leader_followers.hpp): one poller at a time, the leader serves
// what it finds itself, and the role passes on before a slow call (hand_off) or when a
// call keeps the leader too long (the monitor).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "fastcgi/call_times.hpp"
#include "fastcgi/leader_followers.hpp"

namespace cppapi {
namespace {

using namespace std::chrono_literals;
using Leaders = LeaderFollowers<int>;

/// Items 0..count-1, `per_poll` at a time; the poll then says the threads should leave.
class Source {
 public:
  /// `first_wait`: the first poll finds nothing for so long (the other threads fall asleep).
  explicit Source(int count, int per_poll = 3, std::chrono::milliseconds first_wait = 0ms)
      : items_(static_cast<std::size_t>(count)), per_poll_(per_poll), first_wait_(first_wait) {
    for (int i = 0; i < count; ++i) items_[static_cast<std::size_t>(i)] = i;
  }
  bool poll(std::vector<int*>& found) {
    const int now = ++polling_;
    max_polling_ = std::max(max_polling_.load(), now);
    std::this_thread::sleep_for(std::exchange(first_wait_, 0ms) + 50us);  // 50 µs: a second poller would show
    const std::lock_guard lock(mutex_);
    for (int i = 0; i < per_poll_ && next_ < items_.size(); ++i) found.push_back(&items_[next_++]);
    --polling_;
    return !found.empty() || next_ < items_.size();
  }
  int max_polling() const { return max_polling_.load(); }

 private:
  std::vector<int> items_;
  int per_poll_;
  std::chrono::milliseconds first_wait_;
  std::mutex mutex_;
  std::size_t next_ = 0;
  std::atomic<int> polling_{0};
  std::atomic<int> max_polling_{0};
};

TEST(LeaderFollowers, OneThreadPollsAndServesWhatItFoundWhileTheOthersSleep) {
  Leaders leaders(10s);
  Source source(3000, 3, 50ms);  // the others are asleep before the first items come
  std::mutex mutex;
  std::multiset<int> served;
  std::map<std::thread::id, int> servers;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      Leaders::Ticket ticket;
      while (int* item = leaders.next(ticket, [&](std::vector<int*>& found) { return source.poll(found); })) {
        const std::lock_guard lock(mutex);
        served.insert(*item);
        ++servers[std::this_thread::get_id()];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(source.max_polling(), 1) << "never two threads in the poll";
  EXPECT_EQ(served.size(), 3000u);
  for (int i = 0; i < 3000; ++i) ASSERT_EQ(served.count(i), 1u) << "item " << i;
  // Fast items: the leader serves them. A follower is woken only when the leader's items
  // look slow, which a busy machine's preemption can fake now and then: hence not all.
  int most = 0;
  for (const auto& [thread, count] : servers) most = std::max(most, count);
  EXPECT_GE(most, 2700) << "of 3000 fast items, served by one thread (" << servers.size() << " served some)";
  EXPECT_EQ(leaders.revoked(), 0u);
}

// Items that each take a while (a call that costs CPU): the ones found at once are worth a
// wake-up, so followers help and every core is used (found by review: with only the leader
// serving, 4 threads did what 1 does on 150 µs calls).
TEST(LeaderFollowers, FollowersHelpWhenTheItemsFoundTakeLong) {
  Leaders leaders(10s);         // no monitor: the help comes from the backlog alone
  Source source(24, 12, 50ms);  // found while the others sleep
  std::mutex mutex;
  std::set<std::thread::id> servers;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      Leaders::Ticket ticket;
      while (leaders.next(ticket, [&](std::vector<int*>& found) { return source.poll(found); })) {
        for (const auto until = std::chrono::steady_clock::now() + 1ms; std::chrono::steady_clock::now() < until;) {
        }
        leaders.note_call_time(1ms);
        const std::lock_guard lock(mutex);
        servers.insert(std::this_thread::get_id());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_GE(servers.size(), 2u);
  EXPECT_EQ(leaders.revoked(), 0u);
}

/// Two threads, items 0 and 1 found in one poll. Item 0 is slow: its thread calls
/// `before_slow` and then waits until item 1 has been served. Returns whether another
/// thread served item 1 meanwhile.
bool second_item_served_during_the_first(Leaders& leaders, bool hand_off) {
  Source source(2, 2, 50ms);  // found while the other thread sleeps: only a hand-over wakes it
  std::promise<std::thread::id> second;
  auto second_served = second.get_future().share();
  std::thread::id slow_thread;
  std::mutex mutex;
  bool in_time = false;
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      Leaders::Ticket ticket;
      while (int* item = leaders.next(ticket, [&](std::vector<int*>& found) { return source.poll(found); })) {
        if (*item == 0) {
          if (hand_off) leaders.hand_off(ticket);
          const bool ready = second_served.wait_for(5s) == std::future_status::ready;
          const std::lock_guard lock(mutex);
          slow_thread = std::this_thread::get_id();
          in_time = ready && second_served.get() != slow_thread;
        } else {
          second.set_value(std::this_thread::get_id());
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  return in_time;
}

TEST(LeaderFollowers, HandOffLetsAFollowerServeTheRestDuringASlowCall) {
  Leaders leaders(10s);  // the monitor would wait far longer than the test
  EXPECT_TRUE(second_item_served_during_the_first(leaders, true));
  EXPECT_EQ(leaders.revoked(), 0u);
}

TEST(LeaderFollowers, TheMonitorTakesTheRoleFromALeaderThatStaysInACall) {
  Leaders leaders(5ms);
  EXPECT_TRUE(second_item_served_during_the_first(leaders, false));
  EXPECT_GE(leaders.revoked(), 1u);
}

TEST(LeaderFollowers, WithoutHandOffOrMonitorTheRestWaitsForTheSlowCall) {
  Leaders leaders(10s);  // shows the two tests above can fail
  EXPECT_FALSE(second_item_served_during_the_first(leaders, false));
}

TEST(LeaderFollowers, FinishReleasesTheLeaderAndTheSleepingFollowers) {
  Leaders leaders(10s);
  std::atomic<bool> stop{false};
  std::atomic<int> returned{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      Leaders::Ticket ticket;
      const int* item = leaders.next(ticket, [&](std::vector<int*>&) {
        std::this_thread::sleep_for(1ms);  // an idle epoll_wait with its timeout
        return !stop.load();
      });
      EXPECT_EQ(item, nullptr);
      ++returned;
    });
  }
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(returned.load(), 0);
  stop = true;
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(returned.load(), 3);
}

TEST(CallTimes, OnlyACallThatRanFastLastTimeIsKnownFast) {
  CallTimes times;
  EXPECT_FALSE(times.known_fast("add")) << "never ran";
  times.record("add", 3us);
  EXPECT_TRUE(times.known_fast("add"));
  times.record("add", 20ms);
  EXPECT_FALSE(times.known_fast("add"));
  times.record("add", CallTimes::kFast);
  EXPECT_TRUE(times.known_fast("add"));
}

}  // namespace
}  // namespace cppapi
