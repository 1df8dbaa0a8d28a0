// SPDX-License-Identifier: MIT
// The status pages on made-up numbers, the scoreboard's folding of a dead worker, the
// page chosen by a URI, and the slowlog_threshold and status_listen settings.
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/config.hpp"
#include "process/listen_queue.hpp"
#include "process/scoreboard.hpp"
#include "process/status_pages.hpp"

namespace cppapi {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;

StatusSnapshot sample() {
  StatusSnapshot s;
  s.version = "1.2.3";
  s.pid = 42;
  s.start_time = 1700000000;
  s.uptime_seconds = 12.5;
  s.generation = 2;
  s.processes = 2;
  s.threads = 4;
  s.live_workers = 2;
  s.active_requests = 3;
  s.idle_threads = 5;
  s.slow_requests = 1;
  s.restarts = {1, 2, 0, 4};
  s.listen_queue = 7;
  s.max_listen_queue = 9;
  s.call_names = {"add", "(unknown)"};
  s.calls.resize(2);
  s.calls[0].by_status[status_index(200)] = 10;
  s.calls[0].by_status[status_index(502)] = 1;
  s.calls[0].buckets[0] = 10;
  s.calls[0].buckets[kBuckets - 1] = 1;
  s.calls[0].duration_ns = 2'000'000;
  s.calls[1].by_status[status_index(404)] = 3;
  s.calls[1].buckets[1] = 3;
  s.workers = {{100, 1700000001, 6, 2, 4096, "running"}, {101, 1700000002, 8, 1, 8192, "retiring"}};
  return s;
}

TEST(StatusPages, PageFromTheLastPathSegment) {
  EXPECT_EQ(choose_status_page("/cppapi-status/ping"), StatusPage::kPing);
  EXPECT_EQ(choose_status_page("/cppapi-status/status?json&full"), StatusPage::kStatus);
  EXPECT_EQ(choose_status_page("/cppapi-status"), StatusPage::kStatus);
  EXPECT_EQ(choose_status_page("/somewhere/else/metrics"), StatusPage::kMetrics);
  EXPECT_EQ(choose_status_page("/cppapi-status/other"), StatusPage::kNotFound);
  EXPECT_TRUE(query_has("json&full", "full"));
  EXPECT_TRUE(query_has("json", "json"));
  EXPECT_TRUE(query_has("full=1", "full"));
  EXPECT_FALSE(query_has("jsonx&fullness", "full"));
  EXPECT_TRUE(wants_openmetrics("application/openmetrics-text; version=1.0.0,text/plain;q=0.5"));
  EXPECT_FALSE(wants_openmetrics("text/plain"));
}

TEST(StatusPages, StatusCodesAndBuckets) {
  EXPECT_EQ(status_label(status_index(200)), "200");
  EXPECT_EQ(status_label(status_index(504)), "504");
  EXPECT_EQ(status_label(status_index(418)), "4xx");
  EXPECT_EQ(status_label(status_index(299)), "2xx");
  EXPECT_EQ(status_label(status_index(999)), "5xx");
  EXPECT_EQ(bucket_index(0), 0u);
  EXPECT_EQ(bucket_index(1'000'000), 0u);  // 1 ms: le="0.001"
  EXPECT_EQ(bucket_index(1'000'001), 1u);
  EXPECT_EQ(bucket_index(60'000'000'000), kBuckets - 1);  // a minute: +Inf
}

TEST(StatusPages, Json) {
  const auto json = nlohmann::json::parse(render_status_json(sample(), false));
  EXPECT_EQ(json["requests_total"], 14);
  EXPECT_EQ(json["worker_restarts"], 7);
  EXPECT_EQ(json["listen_queue"], 7);
  EXPECT_EQ(json["max_listen_queue"], 9);
  EXPECT_EQ(json["threads_per_process"], 4);
  EXPECT_FALSE(json.contains("workers"));
  const auto full = nlohmann::json::parse(render_status_json(sample(), true));
  ASSERT_EQ(full["workers"].size(), 2u);
  EXPECT_EQ(full["workers"][1]["state"], "retiring");
  EXPECT_EQ(full["workers"][1]["rss_bytes"], 8192);
}

TEST(StatusPages, Text) {
  const std::string text = render_status_text(sample(), true);
  EXPECT_THAT(text, HasSubstr("requests total:       14\n"));
  EXPECT_THAT(text, HasSubstr("start time:           2023-11-14T22:13:20Z\n"));
  EXPECT_THAT(text, HasSubstr("retiring"));
  EXPECT_THAT(render_status_text(sample(), false), Not(HasSubstr("retiring")));
}

TEST(StatusPages, Prometheus) {
  const std::string page = render_metrics(sample(), false);
  EXPECT_THAT(page, HasSubstr("# TYPE cppapi_requests_total counter\n"));
  EXPECT_THAT(page, HasSubstr("cppapi_requests_total{call=\"add\",status=\"200\"} 10\n"));
  EXPECT_THAT(page, HasSubstr("cppapi_requests_total{call=\"add\",status=\"502\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("cppapi_requests_total{call=\"(unknown)\",status=\"404\"} 3\n"));
  EXPECT_THAT(page, HasSubstr("cppapi_request_duration_seconds_bucket{call=\"add\",le=\"0.001\"} 10\n"));
  EXPECT_THAT(page, HasSubstr("cppapi_request_duration_seconds_bucket{call=\"add\",le=\"1.0\"} 10\n"));
  EXPECT_THAT(page, HasSubstr("cppapi_request_duration_seconds_bucket{call=\"add\",le=\"+Inf\"} 11\n"));
  EXPECT_THAT(page, HasSubstr("cppapi_request_duration_seconds_count{call=\"add\"} 11\n"));
  EXPECT_THAT(page, HasSubstr("cppapi_request_duration_seconds_sum{call=\"add\"} 0.002\n"));
  EXPECT_THAT(page, HasSubstr("cppapi_worker_restarts_total{reason=\"reload\"} 4\n"));
  EXPECT_THAT(page, HasSubstr("cppapi_build_info{version=\"1.2.3\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("cppapi_listen_queue 7\n"));
  EXPECT_THAT(page, Not(HasSubstr("# EOF")));
}

TEST(StatusPages, OpenMetrics) {
  const std::string page = render_metrics(sample(), true);
  EXPECT_THAT(page, EndsWith("# EOF\n"));
  EXPECT_THAT(page, HasSubstr("# TYPE cppapi_requests counter\n"));
  EXPECT_THAT(page, HasSubstr("cppapi_requests_total{call=\"add\",status=\"200\"} 10\n"));
  EXPECT_THAT(page, HasSubstr("# UNIT cppapi_request_duration_seconds seconds\n"));
}

TEST(Scoreboard, FoldsADeadWorkersSlotAndCountsItsRequestsInFlightAs502) {
  Scoreboard board(2, 2);
  const int slot = board.claim();
  ASSERT_EQ(slot, 0);
  board.set_pid(slot, 1234);
  board.begin(slot, 0);
  board.end(slot, 0, 200, 500'000);
  board.begin(slot, 1);  // killed in the middle of this one
  board.begin(slot, 0);
  board.end(slot, 0, 404, 2'000'000);
  EXPECT_EQ(board.active(), 1);
  std::vector<CallTotals> live(2);
  board.add_live(live);
  EXPECT_EQ(live[0].requests(), 2u);
  EXPECT_EQ(live[1].requests(), 0u);

  std::vector<CallTotals> totals(2);
  const auto folded = board.fold_and_free(slot, totals);
  EXPECT_EQ(folded.requests, 3u);
  EXPECT_EQ(folded.in_flight, 1u);
  EXPECT_EQ(totals[1].by_status[status_index(502)], 1u);
  EXPECT_EQ(totals[1].buckets[kBuckets - 1], 1u);
  EXPECT_EQ(totals[0].by_status[status_index(200)], 1u);
  EXPECT_EQ(totals[0].by_status[status_index(404)], 1u);
  EXPECT_EQ(board.active(), 0);
  EXPECT_TRUE(board.workers().empty());
  // The slot is reused from zero.
  EXPECT_EQ(board.claim(), 0);
  std::vector<CallTotals> again(2);
  board.add_live(again);
  EXPECT_EQ(again[0].requests(), 0u);
  EXPECT_EQ(board.claim(), 1);
  EXPECT_EQ(board.claim(), -1);
}

TEST(Scoreboard, SharedWithAForkedChild) {
  Scoreboard board(1, 1);
  const int slot = board.claim();
  const pid_t child = ::fork();
  if (child == 0) {
    for (int i = 0; i < 100; ++i) {
      board.begin(slot, 0);
      board.end(slot, 0, 200, 1000);
    }
    ::_exit(0);
  }
  ASSERT_GT(child, 0);
  int status = 0;
  ::waitpid(child, &status, 0);
  std::vector<CallTotals> totals(1);
  board.add_live(totals);
  EXPECT_EQ(totals[0].requests(), 100u);
}

TEST(ListenQueue, UnixSocketQueueFromSockDiag) {
  const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string path = "/tmp/cppapi-listen-queue-test-" + std::to_string(::getpid());
  ::unlink(path.c_str());
  path.copy(address.sun_path, sizeof address.sun_path - 1);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 16), 0);
  std::vector<int> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(::socket(AF_UNIX, SOCK_STREAM, 0));
    ASSERT_EQ(::connect(clients.back(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  }
  const auto queue = listen_queue(listener);
  ASSERT_TRUE(queue);
  EXPECT_EQ(queue->length, 3u);
  EXPECT_EQ(queue->limit, 16u);
  for (int fd : clients) ::close(fd);
  ::close(listener);
  ::unlink(path.c_str());
}

TEST(StatusSettings, SlowlogThresholdAndStatusListen) {
  Settings settings;
  apply_setting(settings, "slowlog_threshold", "500ms");
  EXPECT_EQ(settings.slowlog_threshold_ms, 500);
  apply_setting(settings, "slowlog-threshold", "2s");
  EXPECT_EQ(settings.slowlog_threshold_ms, 2000);
  apply_setting(settings, "slowlog_threshold", "3");
  EXPECT_EQ(settings.slowlog_threshold_ms, 3000);
  apply_setting(settings, "slowlog_threshold", "off");
  EXPECT_EQ(settings.slowlog_threshold_ms, 0);
  EXPECT_THROW(apply_setting(settings, "slowlog_threshold", "fast"), std::invalid_argument);
  EXPECT_EQ(Settings{}.slowlog_threshold_ms, 0);  // off by default
  apply_setting(settings, "status_listen", "unix:/run/cppapi/cppapi-status.sock");
  EXPECT_EQ(settings.status_listen, "unix:/run/cppapi/cppapi-status.sock");
}

}  // namespace
}  // namespace cppapi
