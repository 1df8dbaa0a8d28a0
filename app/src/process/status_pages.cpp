// SPDX-License-Identifier: MIT
#include "process/status_pages.hpp"

#include <cmath>
#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace cppapi {
namespace {

std::string utc_time(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

/// A float as Prometheus and OpenMetrics both read it: "0.005", "1.0", "+Inf".
std::string float_text(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) return fmt::format("{:.1f}", value);
  return fmt::format("{}", value);
}

std::string_view last_segment(std::string_view path) {
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  const auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::uint64_t StatusSnapshot::requests_total() const {
  std::uint64_t sum = 0;
  for (const CallTotals& call : calls) sum += call.requests();
  return sum;
}

std::uint64_t StatusSnapshot::worker_restarts() const {
  std::uint64_t sum = 0;
  for (const std::uint64_t count : restarts) sum += count;
  return sum;
}

StatusPage choose_status_page(std::string_view request_uri) {
  const std::string_view path = request_uri.substr(0, request_uri.find('?'));
  const std::string_view page = last_segment(path);
  if (page == "ping") return StatusPage::kPing;
  if (page == "metrics") return StatusPage::kMetrics;
  if (page == "status" || page == "cppapi-status" || page.empty()) return StatusPage::kStatus;
  return StatusPage::kNotFound;
}

bool query_has(std::string_view query, std::string_view word) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    item = item.substr(0, item.find('='));
    if (item == word) return true;
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

bool wants_openmetrics(std::string_view accept) {
  return accept.find("application/openmetrics-text") != std::string_view::npos;
}

std::string render_status_text(const StatusSnapshot& s, bool full) {
  std::string out;
  const auto line = [&out](std::string_view name, const auto& value) {
    out += fmt::format("{:<22}{}\n", fmt::format("{}:", name), value);
  };
  line("version", s.version);
  line("pid", s.pid);
  line("start time", utc_time(s.start_time));
  line("uptime seconds", static_cast<std::int64_t>(s.uptime_seconds));
  line("generation", s.generation);
  line("processes", fmt::format("{} (running {})", s.processes, s.live_workers));
  line("threads per process", s.threads);
  line("active requests", s.active_requests);
  line("idle threads", s.idle_threads);
  line("requests total", s.requests_total());
  line("slow requests", s.slow_requests);
  line("worker restarts", fmt::format("{} (crash {}, max_requests {}, timeout {}, reload {})", s.worker_restarts(),
                                      s.restarts[0], s.restarts[1], s.restarts[2], s.restarts[3]));
  line("listen queue", s.listen_queue);
  line("max listen queue", s.max_listen_queue);
  if (full) {
    out += fmt::format("\n{:>8} {:<20} {:>10} {:>7} {:>12} {}\n", "pid", "started", "requests", "active", "rss bytes",
                       "state");
    for (const WorkerStatus& w : s.workers)
      out += fmt::format("{:>8} {:<20} {:>10} {:>7} {:>12} {}\n", w.pid, utc_time(w.started_unix), w.requests, w.active,
                         w.rss_bytes, w.state);
  }
  return out;
}

std::string render_status_json(const StatusSnapshot& s, bool full) {
  nlohmann::ordered_json json{
      {"version", s.version},
      {"pid", s.pid},
      {"start_time", s.start_time},
      {"uptime_seconds", s.uptime_seconds},
      {"generation", s.generation},
      {"processes", s.processes},
      {"threads_per_process", s.threads},
      {"active_requests", s.active_requests},
      {"idle_threads", s.idle_threads},
      {"requests_total", s.requests_total()},
      {"slow_requests", s.slow_requests},
      {"worker_restarts", s.worker_restarts()},
      {"listen_queue", s.listen_queue},
      {"max_listen_queue", s.max_listen_queue},
  };
  if (full) {
    nlohmann::ordered_json workers = nlohmann::ordered_json::array();
    for (const WorkerStatus& w : s.workers)
      workers.push_back({{"pid", w.pid},
                         {"started", w.started_unix},
                         {"requests", w.requests},
                         {"active_requests", w.active},
                         {"rss_bytes", w.rss_bytes},
                         {"state", w.state}});
    json["workers"] = std::move(workers);
  }
  return json.dump() + "\n";
}

std::string render_metrics(const StatusSnapshot& s, bool openmetrics) {
  std::string out;
  // A counter's family is named without _total in OpenMetrics, with it in Prometheus' format.
  const auto family = [&](std::string_view name, std::string_view type, std::string_view help) {
    std::string family_name(name);
    if (openmetrics && type == "counter" && family_name.ends_with("_total")) family_name.resize(family_name.size() - 6);
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", family_name, help, family_name, type);
    if (openmetrics && family_name.ends_with("_seconds")) out += fmt::format("# UNIT {} seconds\n", family_name);
  };

  family("cppapi_requests_total", "counter", "Requests answered, by call and status (crashed mid-request: 502).");
  for (std::size_t call = 0; call < s.calls.size(); ++call) {
    const CallTotals& totals = s.calls[call];
    for (std::size_t status = 0; status < kStatusKinds; ++status) {
      // Each call's 200 always, so that a rate() sees the first request; other statuses once they occur.
      if (totals.by_status[status] == 0 && status != status_index(200)) continue;
      out += fmt::format("cppapi_requests_total{{call=\"{}\",status=\"{}\"}} {}\n", s.call_names[call],
                         status_label(status), totals.by_status[status]);
    }
  }

  family("cppapi_request_duration_seconds", "histogram", "Time from a complete request to its reply, by call.");
  for (std::size_t call = 0; call < s.calls.size(); ++call) {
    const CallTotals& totals = s.calls[call];
    std::uint64_t cumulative = 0;
    for (std::size_t bucket = 0; bucket < kBuckets; ++bucket) {
      cumulative += totals.buckets[bucket];
      const double bound = bucket < kBucketBounds.size() ? kBucketBounds[bucket] : INFINITY;
      out += fmt::format("cppapi_request_duration_seconds_bucket{{call=\"{}\",le=\"{}\"}} {}\n", s.call_names[call],
                         float_text(bound), cumulative);
    }
    out += fmt::format("cppapi_request_duration_seconds_sum{{call=\"{}\"}} {}\n", s.call_names[call],
                       float_text(static_cast<double>(totals.duration_ns) / 1e9));
    out += fmt::format("cppapi_request_duration_seconds_count{{call=\"{}\"}} {}\n", s.call_names[call], cumulative);
  }

  family("cppapi_active_requests", "gauge", "Requests being answered now, over all workers.");
  out += fmt::format("cppapi_active_requests {}\n", s.active_requests);
  family("cppapi_idle_threads", "gauge", "Serving threads free now: processes x threads - active requests.");
  out += fmt::format("cppapi_idle_threads {}\n", s.idle_threads);
  family("cppapi_workers", "gauge", "Worker processes running (retiring ones included).");
  out += fmt::format("cppapi_workers {}\n", s.live_workers);
  family("cppapi_worker_restarts_total", "counter", "Workers replaced, by reason.");
  for (std::size_t reason = 0; reason < kRestartReasons.size(); ++reason)
    out +=
        fmt::format("cppapi_worker_restarts_total{{reason=\"{}\"}} {}\n", kRestartReasons[reason], s.restarts[reason]);
  family("cppapi_slow_requests_total", "counter", "Requests still running after slowlog_threshold.");
  out += fmt::format("cppapi_slow_requests_total {}\n", s.slow_requests);
  family("cppapi_listen_queue", "gauge", "Connections waiting in the kernel's listen queue.");
  out += fmt::format("cppapi_listen_queue {}\n", s.listen_queue);
  family("cppapi_max_listen_queue", "gauge", "Largest listen queue seen since start (sampled every 100 ms).");
  out += fmt::format("cppapi_max_listen_queue {}\n", s.max_listen_queue);
  family("cppapi_build_info", "gauge", "Always 1; the version is a label.");
  out += fmt::format("cppapi_build_info{{version=\"{}\"}} 1\n", s.version);
  family("cppapi_start_time_seconds", "gauge", "When the master started, in unix seconds.");
  out += fmt::format("cppapi_start_time_seconds {}\n", s.start_time);
  if (openmetrics) out += "# EOF\n";
  return out;
}

}  // namespace cppapi
