// SPDX-License-Identifier: MIT
// The pages of the status listener, rendered from one snapshot of the pool: plain
// text for people, JSON for scripts, Prometheus text exposition and OpenMetrics for
// scrapers. Pure functions of the snapshot (unit tested on made-up numbers).
#pragma once
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "process/scoreboard.hpp"

namespace cppapi {

/// Why workers were replaced (cppapi_worker_restarts_total{reason}).
enum class RestartReason { kCrash = 0, kMaxRequests = 1, kTimeout = 2, kReload = 3 };
inline constexpr std::array<std::string_view, 4> kRestartReasons = {"crash", "max_requests", "timeout", "reload"};

struct WorkerStatus {
  pid_t pid = 0;
  std::int64_t started_unix = 0;
  std::uint64_t requests = 0;
  std::int64_t active = 0;
  std::uint64_t rss_bytes = 0;
  std::string state;
};

struct StatusSnapshot {
  std::string version;
  pid_t pid = 0;
  std::int64_t start_time = 0;  ///< unix seconds
  double uptime_seconds = 0;
  std::uint64_t generation = 0;
  int processes = 0;  ///< configured
  int threads = 0;    ///< per process
  int live_workers = 0;
  std::int64_t active_requests = 0;
  std::int64_t idle_threads = 0;
  std::uint64_t slow_requests = 0;
  std::array<std::uint64_t, 4> restarts{};  ///< by RestartReason
  std::uint64_t listen_queue = 0;
  std::uint64_t max_listen_queue = 0;
  std::vector<std::string> call_names;  ///< one per entry of `calls`; the last is "(unknown)"
  std::vector<CallTotals> calls;
  std::vector<WorkerStatus> workers;

  std::uint64_t requests_total() const;
  std::uint64_t worker_restarts() const;
};

enum class StatusPage { kPing, kStatus, kMetrics, kNotFound };
/// The page a request asks for: the last path segment of its URI ("/cppapi-status/ping"
/// is kPing; "status", "metrics"; the bare prefix "/cppapi-status" is kStatus).
StatusPage choose_status_page(std::string_view request_uri);
/// "json" and "full" among the query's &-separated words.
bool query_has(std::string_view query, std::string_view word);
/// True when the Accept header asks for application/openmetrics-text.
bool wants_openmetrics(std::string_view accept);

std::string render_status_text(const StatusSnapshot& snapshot, bool full);
std::string render_status_json(const StatusSnapshot& snapshot, bool full);
/// Prometheus text exposition 0.0.4, or OpenMetrics 1.0 (ends with "# EOF").
std::string render_metrics(const StatusSnapshot& snapshot, bool openmetrics);

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr std::string_view kOpenMetricsContentType =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

}  // namespace cppapi
