// SPDX-License-Identifier: MIT
// What the status counters add to one request: the responder's two observer calls
// (call-name lookup, in-flight and per-call counters in the worker's shared slot), with
// the slow log off and on, next to the same calls with no observer installed.
#include <chrono>

#include <benchmark/benchmark.h>

#include "core/request_observer.hpp"
#include "dispatch/registry.hpp"
#include "dispatch/request_access.hpp"
#include "process/scoreboard.hpp"
#include "process/worker_observer.hpp"

namespace {

using namespace std::chrono_literals;

void request_edges(benchmark::State& state) {
  static const char* const environment[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/api/add&2&3", nullptr};
  const cppapi::Request request = cppapi::detail::RequestAccess::make(environment, "");
  for (auto _ : state) {
    const cppapi::RequestToken token = cppapi::observe_request_begin(request);
    cppapi::observe_request_end(token, 200, 42us);
    benchmark::DoNotOptimize(token);
  }
}

void BM_NoObserver(benchmark::State& state) {
  cppapi::set_request_observer(nullptr);
  request_edges(state);
}
BENCHMARK(BM_NoObserver)->ThreadRange(1, 4);

void BM_Scoreboard(benchmark::State& state) {
  static cppapi::Registry registry(cppapi::generated_call_table());
  static cppapi::Scoreboard board(1, registry.all().size() + 1);
  static cppapi::WorkerObserver observer(board, board.claim(), registry, "/api/", 0ms);
  cppapi::set_request_observer(&observer);
  request_edges(state);
}
BENCHMARK(BM_Scoreboard)->ThreadRange(1, 4);

void BM_ScoreboardAndSlowLog(benchmark::State& state) {
  static cppapi::Registry registry(cppapi::generated_call_table());
  static cppapi::Scoreboard board(1, registry.all().size() + 1);
  static cppapi::WorkerObserver observer(board, board.claim(), registry, "/api/", 500ms);
  cppapi::set_request_observer(&observer);
  request_edges(state);
}
BENCHMARK(BM_ScoreboardAndSlowLog)->ThreadRange(1, 4);

}  // namespace

BENCHMARK_MAIN();
