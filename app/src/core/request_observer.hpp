// SPDX-License-Identifier: MIT
// A hook the FastCGI responder calls around every request, so that the process
// layer can count it (the status scoreboard) and watch it (the slow log) without the
// responder knowing about either. Off (null) unless a worker installs an observer;
// then it costs one relaxed load and a virtual call per request edge.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "cppapi/request.hpp"

namespace cppapi {

/// What begin() gives back and end() takes: which call, and which thread entry.
struct RequestToken {
  std::uint32_t call = 0;   ///< the observer's call index
  std::int32_t entry = -1;  ///< the observer's per-thread entry (-1: none)
};

class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  /// A request starts on this thread. `request_uri` is the raw REQUEST_URI.
  virtual RequestToken begin(std::string_view request_uri) noexcept = 0;
  /// The request was answered with `status` after `elapsed` (maybe from another thread:
  /// the request_timeout watchdog answers for a stuck handler). Once per begin().
  virtual void end(RequestToken token, int status, std::chrono::nanoseconds elapsed) noexcept = 0;
};

namespace detail {
inline std::atomic<RequestObserver*> request_observer{nullptr};
}  // namespace detail

/// Installs (or, with nullptr, removes) the process's observer. The observer must
/// outlive every request.
inline void set_request_observer(RequestObserver* observer) { detail::request_observer.store(observer); }

/// Looks REQUEST_URI up only when an observer is installed: without one a request pays one load.
inline RequestToken observe_request_begin(const Request& request) noexcept {
  RequestObserver* observer = detail::request_observer.load(std::memory_order_relaxed);
  return observer ? observer->begin(request.param("REQUEST_URI")) : RequestToken{};
}

inline void observe_request_end(RequestToken token, int status, std::chrono::nanoseconds elapsed) noexcept {
  if (RequestObserver* observer = detail::request_observer.load(std::memory_order_relaxed))
    observer->end(token, status, elapsed);
}

}  // namespace cppapi
