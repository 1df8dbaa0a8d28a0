// SPDX-License-Identifier: MIT
// The serving threads both engines share: busy until each leaves or is abandoned, the
// watchdog's ticks, and the end (joined, or detached when abandoned).
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include <gtest/gtest.h>

#include "fastcgi/serving_threads.hpp"

namespace {

using namespace std::chrono_literals;
using cppapi::ServingThreads;

TEST(ServingThreads, WaitEndsOnlyWhenEachThreadLeftOrWasAbandoned) {
  auto release = std::make_shared<std::promise<void>>();
  std::shared_future<void> released = release->get_future().share();
  std::atomic<bool> abandoned{false};
  {
    ServingThreads threads;
    threads.start(
        2,
        [&threads, released](ServingThreads::Index i) {
          if (i == 1) {
            released.wait();  // a stuck handler: returns only after being abandoned, and never leaves
            return;
          }
          threads.leave();
        },
        [&abandoned](ServingThreads::Index i) { return i == 1 && abandoned.load(); }, 1000ms, [] {});
    EXPECT_FALSE(threads.wait(100ms)) << "thread 1 is still busy";
    abandoned = true;
    threads.abandon();
    EXPECT_TRUE(threads.wait(1s));
    EXPECT_EQ(threads.abandoned(), 1);
  }  // finish(): thread 0 joined, thread 1 detached (still blocked)
  release->set_value();
}

TEST(ServingThreads, TheWatchdogTicksUntilFinished) {
  std::atomic<int> ticks{0};
  ServingThreads threads;
  threads.start(
      1, [&threads](ServingThreads::Index) { threads.leave(); }, [](ServingThreads::Index) { return false; }, 10ms,
      [&ticks] { ++ticks; });
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (ticks < 3 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  EXPECT_GE(ticks.load(), 3);
  threads.finish();
  const int after = ticks.load();
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(ticks.load(), after) << "a tick after finish()";
}

TEST(ServingThreads, WatchdogTickFollowsTheRequestTimeout) {
  EXPECT_EQ(ServingThreads::watchdog_tick(0ms), 1000ms);
  EXPECT_EQ(ServingThreads::watchdog_tick(50ms), 10ms);
  EXPECT_EQ(ServingThreads::watchdog_tick(500ms), 50ms);
  EXPECT_EQ(ServingThreads::watchdog_tick(30s), 100ms);
}

}  // namespace
