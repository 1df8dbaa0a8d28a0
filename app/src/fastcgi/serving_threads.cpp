// SPDX-License-Identifier: MIT
#include "fastcgi/serving_threads.hpp"

#include <algorithm>

namespace cppapi {

std::chrono::milliseconds ServingThreads::watchdog_tick(std::chrono::milliseconds request_timeout) {
  using std::chrono::milliseconds;
  if (request_timeout.count() <= 0) return milliseconds(1000);
  return std::clamp<milliseconds>(request_timeout / 10, milliseconds(10), milliseconds(100));
}

ServingThreads::~ServingThreads() { finish(); }

void ServingThreads::start(int count, std::function<void(Index)> serve, std::function<bool(Index)> is_abandoned,
                           std::chrono::milliseconds tick, std::function<void()> on_tick) {
  is_abandoned_ = std::move(is_abandoned);
  {
    const std::lock_guard lock(mutex_);
    busy_ = count;
  }
  for (int i = 0; i < count; ++i) threads_.emplace_back([serve, i] { serve(static_cast<Index>(i)); });
  watchdog_ = std::thread([this, tick, on_tick = std::move(on_tick)] {
    std::unique_lock lock(mutex_);
    while (!watchdog_stop_) {
      changed_.wait_for(lock, tick);
      if (watchdog_stop_) break;
      lock.unlock();
      on_tick();
      lock.lock();
    }
  });
}

void ServingThreads::leave() {
  {
    const std::lock_guard lock(mutex_);
    --busy_;
  }
  changed_.notify_all();
}

void ServingThreads::abandon() {
  {
    const std::lock_guard lock(mutex_);
    --busy_;
    ++abandoned_;
  }
  changed_.notify_all();
}

int ServingThreads::abandoned() const {
  const std::lock_guard lock(mutex_);
  return abandoned_;
}

bool ServingThreads::wait(std::chrono::milliseconds timeout) {
  {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, timeout, [this] { return busy_ == 0; })) return false;
  }
  join_or_detach();
  return true;
}

void ServingThreads::finish() {
  {
    const std::lock_guard lock(mutex_);
    watchdog_stop_ = true;
  }
  changed_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  join_or_detach();
}

void ServingThreads::join_or_detach() {
  for (Index i = 0; i < threads_.size(); ++i) {
    if (!threads_[i].joinable()) continue;
    if (is_abandoned_(i))
      threads_[i].detach();  // stuck for good
    else
      threads_[i].join();
  }
}

}  // namespace cppapi
