// SPDX-License-Identifier: MIT
// Micro-benchmarks of the request path without I/O: grammar, dispatch (lookup,
// argument conversion, handler, reply) and the reply head, in ns per call, plus heap
// allocations per call. `bench/bench.py micro` runs this and appends the table to
// bench/RESULTS.md.
//
// Allocations are counted by replacing the global operator new in this binary only;
// the counter (one relaxed atomic add) costs about a nanosecond per allocation.
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "cppapi/detail/call_record.hpp"
#include "cppapi/reply.hpp"
#include "cppapi/request.hpp"

#include "core/settings.hpp"
#include "dispatch/dispatcher.hpp"
#include "dispatch/grammar.hpp"
#include "dispatch/registry.hpp"
#include "dispatch/reply_writer.hpp"
#include "dispatch/request_access.hpp"

// GCC warns (-Wmismatched-new-delete) when an inlined replacement delete frees what a
// replacement new returned: a false positive, both sides use malloc/free.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {

std::atomic<std::size_t> allocations{0};

void* counted_alloc(std::size_t size) noexcept {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}

void* counted_aligned_alloc(std::size_t size, std::align_val_t align) noexcept {
  allocations.fetch_add(1, std::memory_order_relaxed);
  const auto alignment = static_cast<std::size_t>(align);
  return std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
}

}  // namespace

void* operator new(std::size_t size) {
  if (void* p = counted_alloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return counted_alloc(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return counted_alloc(size); }
void* operator new(std::size_t size, std::align_val_t align) {
  if (void* p = counted_aligned_alloc(size, align)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size, std::align_val_t align) { return operator new(size, align); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace cppapi {
namespace {

// The same shapes as calls/: a typed call, a string call, a JSON-ish call.
long add(long a, long b) { return a + b; }
std::string hello() { return "hello\n"; }
std::string echo(const Args& args) {
  std::string out;
  for (const auto& arg : args) out += arg;
  return out;
}

// A registry about the size of a small application, so the lookup is not trivial.
const detail::CallRecord kAdd = detail::make_record<&add>("add", "long a, long b");
const detail::CallRecord kHello = detail::make_record<&hello>("bench/hello", "");
const detail::CallRecord kEcho = detail::make_record<&echo>("echo", "const cppapi::Args& args");
const detail::CallRecord kNotesGet = detail::make_record<&add>("notes/get", "long a, long b");
const detail::CallRecord kNotesPut = detail::make_record<&add>("notes/put", "long a, long b");
const detail::CallRecord kServerTime = detail::make_record<&hello>("serverTime", "");
const detail::CallRecord kUsersGet = detail::make_record<&echo>("users/get", "const cppapi::Args& args");
const detail::CallRecord kUsersList = detail::make_record<&hello>("users/list", "");
const detail::CallRecord* const kTable[] = {&kAdd,      &kHello,      &kEcho,     &kNotesGet,
                                            &kNotesPut, &kServerTime, &kUsersGet, &kUsersList};

/// The parameters nginx sends with Debian's fastcgi_params for a wrk GET, in
/// nginx's order, so that parameter lookups scan as far as they do in production.
class NginxEnvironment {
 public:
  explicit NginxEnvironment(const std::string& uri, const std::string& method = "GET") {
    const std::string path = uri.substr(0, uri.find('?'));
    const std::string query = uri.find('?') == std::string::npos ? "" : uri.substr(uri.find('?') + 1);
    entries_ = {"QUERY_STRING=" + query,
                "REQUEST_METHOD=" + method,
                "CONTENT_TYPE=",
                "CONTENT_LENGTH=",
                "SCRIPT_NAME=" + path,
                "REQUEST_URI=" + uri,
                "DOCUMENT_URI=" + path,
                "DOCUMENT_ROOT=/usr/share/nginx/html",
                "SERVER_PROTOCOL=HTTP/1.1",
                "REQUEST_SCHEME=http",
                "GATEWAY_INTERFACE=CGI/1.1",
                "SERVER_SOFTWARE=nginx/1.22.1",
                "REMOTE_ADDR=127.0.0.1",
                "REMOTE_PORT=51234",
                "SERVER_ADDR=127.0.0.1",
                "SERVER_PORT=18080",
                "SERVER_NAME=localhost",
                "REDIRECT_STATUS=200",
                "HTTP_HOST=127.0.0.1"};
    for (const auto& entry : entries_) pointers_.push_back(entry.c_str());
    pointers_.push_back(nullptr);
  }
  const char* const* envp() const { return pointers_.data(); }

 private:
  std::vector<std::string> entries_;
  std::vector<const char*> pointers_;
};

/// Runs `body` in the timed loop and reports heap allocations per iteration.
template <typename Body>
void measure(benchmark::State& state, Body&& body) {
  const std::size_t before = allocations.load(std::memory_order_relaxed);
  for (auto _ : state) body();
  const std::size_t counted = allocations.load(std::memory_order_relaxed) - before;
  state.counters["allocs"] = benchmark::Counter(static_cast<double>(counted), benchmark::Counter::kAvgIterations);
}

void BM_ParseCall(benchmark::State& state, const char* uri) {
  const Limits limits;
  measure(state, [&] {
    ParsedCall parsed = parse_call(uri, "/api/", limits);
    benchmark::DoNotOptimize(parsed);
  });
}
BENCHMARK_CAPTURE(BM_ParseCall, add, "/api/add&2&3");
BENCHMARK_CAPTURE(BM_ParseCall, escaped_query, "/api/notes/get&17&hello%20w%C3%B6rld&a%26b?cache=1");

/// What a responder thread does between reading the request and writing bytes:
/// build the Request, dispatch, render the head.
void BM_Request(benchmark::State& state, const char* uri) {
  const NginxEnvironment environment(uri);
  const Registry registry{kTable};
  const Settings settings;
  const Dispatcher dispatcher(registry, settings);
  measure(state, [&] {
    Request request = detail::RequestAccess::make(environment.envp(), std::string());
    Reply reply = dispatcher.handle(request);
    std::string head = render_head(reply);
    benchmark::DoNotOptimize(head);
    benchmark::DoNotOptimize(reply);
  });
}
BENCHMARK_CAPTURE(BM_Request, hello, "/api/bench/hello");
BENCHMARK_CAPTURE(BM_Request, add, "/api/add&2&3");
BENCHMARK_CAPTURE(BM_Request, add_bad_argument_400, "/api/add&2&x");
BENCHMARK_CAPTURE(BM_Request, unknown_call_404, "/api/nope&1");

/// Dispatcher::handle alone on add&2&3 (the Request is rebuilt each time, as it is
/// per request in the responder; its construction is two pointer stores).
void BM_DispatchAdd(benchmark::State& state) {
  const NginxEnvironment environment("/api/add&2&3");
  const Registry registry{kTable};
  const Settings settings;
  const Dispatcher dispatcher(registry, settings);
  measure(state, [&] {
    Request request = detail::RequestAccess::make(environment.envp(), std::string());
    Reply reply = dispatcher.handle(request);
    benchmark::DoNotOptimize(reply);
  });
}
BENCHMARK(BM_DispatchAdd);

void BM_RenderHead(benchmark::State& state) {
  const Reply reply = Reply::text("5");
  measure(state, [&] {
    std::string head = render_head(reply);
    benchmark::DoNotOptimize(head);
  });
}
BENCHMARK(BM_RenderHead);

void BM_RegistryFind(benchmark::State& state) {
  const Registry registry{kTable};
  measure(state, [&] { benchmark::DoNotOptimize(registry.find("notes/get")); });
}
BENCHMARK(BM_RegistryFind);

}  // namespace
}  // namespace cppapi

BENCHMARK_MAIN();
