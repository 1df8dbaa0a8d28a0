// SPDX-License-Identifier: MIT
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace cppapi {

/// The serving threads of an engine and its watchdog: how many are still busy, how many
/// were abandoned to a stuck handler, and how they end. Both engines (FcgiResponder,
/// LibfcgiResponder) keep their threads this way.
///
/// A thread that returns calls leave(); one the watchdog answered for calls nothing (it
/// may never return): the watchdog calls abandon() instead. At the end, threads that left
/// are joined and abandoned ones detached, so a process that then _exit()s leaves no
/// finished thread unjoined.
class ServingThreads {
 public:
  using Index = std::size_t;

  /// How often the watchdog looks: a tenth of request_timeout (10-100 ms), else every second.
  static std::chrono::milliseconds watchdog_tick(std::chrono::milliseconds request_timeout);

  ServingThreads() = default;
  ~ServingThreads();
  ServingThreads(const ServingThreads&) = delete;
  ServingThreads& operator=(const ServingThreads&) = delete;

  /// Runs serve(i) on `count` threads and on_tick() every `tick` on a watchdog thread;
  /// is_abandoned(i) tells, at the end, whether thread i is stuck for good.
  void start(int count, std::function<void(Index)> serve, std::function<bool(Index)> is_abandoned,
             std::chrono::milliseconds tick, std::function<void()> on_tick);
  void leave();
  void abandon();
  int abandoned() const;
  /// True once no thread is busy, within `timeout`; then joins those that left.
  bool wait(std::chrono::milliseconds timeout);
  /// Stops the watchdog, joins the threads that left and detaches the abandoned ones.
  void finish();

 private:
  void join_or_detach();

  mutable std::mutex mutex_;  // guards the three fields below
  std::condition_variable changed_;
  int busy_ = 0;
  int abandoned_ = 0;
  bool watchdog_stop_ = false;

  std::function<bool(Index)> is_abandoned_;
  std::vector<std::thread> threads_;
  std::thread watchdog_;
};

}  // namespace cppapi
