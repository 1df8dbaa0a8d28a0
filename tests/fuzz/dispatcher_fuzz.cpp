// SPDX-License-Identifier: MIT
// A whole request through Dispatcher::handle against the call table the build
// generated (calls/ and, in the fuzz preset, tests/calls/). Input: escaped fields
// (see fuzz_support.hpp), one per line:
//   method, REQUEST_URI, Origin, CONTENT_TYPE, body, then extra "NAME=value" params.
// Every request runs twice: default settings with a CORS allow-list, and tight limits
// with CORS open to "*". handle never throws; every reply can be written as it is;
// every error is a JSON object with its own status; only calls that fail on purpose
// get a 5xx; 405, preflight and CORS behave as DESIGN.md says.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/settings.hpp"
#include "dispatch/dispatcher.hpp"
#include "dispatch/registry.hpp"
#include "dispatch/reply_writer.hpp"
#include "dispatch/request_access.hpp"
#include "fuzz_support.hpp"

namespace {

using cppapi::fuzz::fail;
using cppapi::fuzz::field;

/// Test calls that stop the process or hold it on purpose (abort, sleep up to 10 min).
bool is_fuzzable(const cppapi::detail::CallRecord* record) {
  const std::string_view name = record->name;
  return name != "test/crash" && name != "test/sleep";
}

/// Test calls whose job is to fail: the only ones allowed a 5xx.
bool fails_on_purpose(std::string_view call) { return call == "test/fail" || call == "test/badheader"; }

const cppapi::Registry& registry() {
  static const cppapi::Registry instance = [] {
    std::vector<const cppapi::detail::CallRecord*> records;
    for (const auto* record : cppapi::generated_call_table())
      if (is_fuzzable(record)) records.push_back(record);
    return cppapi::Registry(records);
  }();
  return instance;
}

cppapi::Settings make_settings(bool tight) {
  cppapi::Settings settings;
  if (tight) {
    settings.limits.max_uri_bytes = 256;
    settings.limits.max_arguments = 8;
    settings.cors_origins = {"*"};
  } else {
    settings.cors_origins = {"https://app.example", "http://127.0.0.1:8080"};
  }
  return settings;
}

std::vector<std::string_view> header_values(const cppapi::Reply& reply, std::string_view name) {
  std::vector<std::string_view> values;
  for (const auto& [key, value] : reply.headers)
    if (key == name) values.emplace_back(value);
  return values;
}

void check_reply(const cppapi::Settings& settings, std::string_view method, std::string_view seen_origin,
                 std::string_view call, const cppapi::Reply& reply) {
  if (const auto problem = cppapi::reply_problem(reply)) {
    std::fprintf(stderr, "reply refused: %s\n", problem->c_str());
    fail("reply_problem(reply) is nullopt", __FILE__, __LINE__);
  }
  cppapi::fuzz::check_head(reply);

  if (reply.status >= 400) {
    FUZZ_CHECK(reply.content_type == "application/json");
    nlohmann::json body;
    try {
      body = nlohmann::json::parse(reply.body);
    } catch (const std::exception& error) {
      std::fprintf(stderr, "error body is not JSON (%s)\n", error.what());
      fail("every 4xx/5xx body is valid JSON", __FILE__, __LINE__);
    }
    FUZZ_CHECK(body.is_object() && body["status"] == reply.status);
    FUZZ_CHECK(body["error"].is_string() && body["call"].is_string());
    if (reply.status >= 500) FUZZ_CHECK(reply.status == 500 && fails_on_purpose(call));
  }

  // NUL ends a CGI parameter, so the dispatcher sees the method up to the first NUL.
  const std::string_view seen_method = method.substr(0, method.find('\0'));
  if (seen_method == "OPTIONS") {
    FUZZ_CHECK(reply.status == 204 && reply.body.empty());
  } else if (seen_method != "GET" && seen_method != "HEAD" && seen_method != "POST") {
    FUZZ_CHECK(reply.status == 405);
    FUZZ_CHECK(header_values(reply, "Allow") == std::vector<std::string_view>{"GET, HEAD, POST, OPTIONS"});
  }

  const auto& allowed = settings.cors_origins;
  const bool cors = !seen_origin.empty() && std::any_of(allowed.begin(), allowed.end(), [&](const std::string& entry) {
    return entry == "*" || entry == seen_origin;
  });
  const auto allow_origin = header_values(reply, "Access-Control-Allow-Origin");
  if (!cors) {
    FUZZ_CHECK(allow_origin.empty());
  } else {
    FUZZ_CHECK(allow_origin.size() == 1);
    FUZZ_CHECK(allow_origin[0] == "*" || allow_origin[0] == seen_origin);
  }
}

/// The Origin the request carries: the first HTTP_ORIGIN parameter, up to a NUL (an extra param may set it).
std::string_view origin_param(const std::vector<std::string>& params) {
  for (const std::string& param : params) {
    const std::string_view entry(param.c_str());
    if (entry.starts_with("HTTP_ORIGIN=")) return entry.substr(12);
  }
  return {};
}

void run(const cppapi::Settings& settings, const std::vector<std::string>& fields) {
  std::vector<std::string> params = {"REQUEST_METHOD=" + field(fields, 0), "REQUEST_URI=" + field(fields, 1),
                                     "SCRIPT_NAME=/api", "REMOTE_ADDR=127.0.0.1"};
  if (!field(fields, 2).empty()) params.push_back("HTTP_ORIGIN=" + field(fields, 2));
  params.push_back("CONTENT_TYPE=" + field(fields, 3));
  for (std::size_t i = 5; i < fields.size(); ++i) params.push_back(fields[i]);
  std::vector<const char*> envp;
  for (const std::string& param : params) envp.push_back(param.c_str());
  envp.push_back(nullptr);

  cppapi::Request request = cppapi::detail::RequestAccess::make(envp.data(), field(fields, 4));
  const cppapi::Dispatcher dispatcher(registry(), settings);
  cppapi::Reply reply;
  try {
    reply = dispatcher.handle(request);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "Dispatcher::handle threw %s\n", error.what());
    fail("Dispatcher::handle never throws", __FILE__, __LINE__);
  } catch (...) {
    fail("Dispatcher::handle never throws", __FILE__, __LINE__);
  }
  check_reply(settings, field(fields, 0), origin_param(params), request.call(), reply);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // handler failures are logged; not what is measured here
  registry();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const cppapi::Settings kDefault = make_settings(false), kTight = make_settings(true);
  const auto fields = cppapi::fuzz::escaped_fields(cppapi::fuzz::as_text(data, size));
  run(kDefault, fields);
  run(kTight, fields);
  return 0;
}
