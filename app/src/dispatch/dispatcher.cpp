// SPDX-License-Identifier: MIT
#include "dispatch/dispatcher.hpp"

#include <algorithm>
#include <cctype>
#include <exception>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cppapi/http_error.hpp"

#include "dispatch/error_reply.hpp"
#include "dispatch/grammar.hpp"
#include "dispatch/reply_writer.hpp"
#include "dispatch/request_access.hpp"

namespace cppapi {
namespace {

constexpr std::string_view kAllowedMethods = "GET, HEAD, POST, OPTIONS";

/// The call's name as written, for errors raised before (or while) it was parsed.
std::string_view call_text_for_errors(const Request& request, std::string_view prefix) {
  if (!request.call().empty()) return request.call();
  return raw_call_name(request.param("REQUEST_URI"), prefix);
}

constexpr std::string_view kCrossSite =
    "cross-site request refused: a page of another site may not call this API (allow its origin with "
    "cors_origin, or turn the check off with cross_site_guard = false)";

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

/// True when `origin` is this request's own: its scheme (HTTPS, else REQUEST_SCHEME, else
/// http) and its Host. Debian's nginx passes Host without the port (`$host`): then the
/// port is SERVER_PORT's.
bool is_own_origin(const Request& request, std::string_view origin) {
  const std::string_view host = request.header("Host");
  if (host.empty()) return false;
  const std::string_view scheme_param = request.param("REQUEST_SCHEME");
  const std::string_view scheme = request.https() ? "https" : scheme_param.empty() ? "http" : scheme_param;
  if (equal_ignoring_case(origin, fmt::format("{}://{}", scheme, host))) return true;
  const bool has_port = host.back() != ']' && host.find(':') != std::string_view::npos;
  const std::string_view port = request.param("SERVER_PORT");
  return !has_port && !port.empty() && equal_ignoring_case(origin, fmt::format("{}://{}:{}", scheme, host, port));
}

}  // namespace

Reply Dispatcher::handle(Request& request) const {
  const std::string_view method = request.method();
  Reply reply;
  if (method == "OPTIONS") {
    reply = preflight(request);
  } else if (method != "GET" && method != "HEAD" && method != "POST") {
    reply = refuse(request, 405, fmt::format("method {} not allowed", detail::quote_for_message(method)));
    reply.header("Allow", std::string(kAllowedMethods));
    return reply;
  } else if (from_another_site(request)) {
    reply = refuse(request, 403, kCrossSite);
  } else if (const std::string_view uri = request.param("REQUEST_URI");
             auto file = client_files_.serve(request, raw_call_text(uri, settings_.prefix))) {
    reply = std::move(*file);  // openapi.json, calls.js: dispatch/client_files.cpp
  } else {
    reply = run_handler(request, uri);
  }
  if (auto problem = reply_problem(reply)) {
    spdlog::error("call {}: reply refused: {}", request.call(), *problem);
    return refuse(request, 500, "internal error");
  }
  add_cors(request, reply);
  return reply;
}

Reply Dispatcher::run_handler(Request& request, std::string_view request_uri) const {
  try {
    ParsedCall parsed = parse_call(request_uri, settings_.prefix, settings_.limits);
    detail::RequestAccess::set_call(request, std::move(parsed.name), std::move(parsed.args));
    const detail::CallRecord* record = registry_.find(request.call());
    if (!record) return refuse(request, 404, fmt::format("no such call: {}", request.call()));
    return record->invoke(request, request.args());
  } catch (const HttpError& error) {
    return refuse(request, error.status(), error.what());
  } catch (const std::exception& error) {
    spdlog::error("call {}: handler failed: {}", call_text_for_errors(request, settings_.prefix), error.what());
    return refuse(request, 500, settings_.debug ? fmt::format("internal error: {}", error.what()) : "internal error");
  } catch (...) {
    spdlog::error("call {}: handler threw a non-exception", call_text_for_errors(request, settings_.prefix));
    return refuse(request, 500, "internal error");
  }
}

Reply Dispatcher::refuse(const Request& request, int status, std::string_view message) const {
  Reply reply = error_reply(status, message, call_text_for_errors(request, settings_.prefix));
  add_cors(request, reply);
  return reply;
}

Reply Dispatcher::preflight(const Request& request) const {
  Reply reply{204, "text/plain; charset=utf-8", {}, {}};
  reply.header("Allow", std::string(kAllowedMethods));
  if (!allowed_origin(request.header("Origin")).empty()) {
    reply.header("Access-Control-Allow-Methods", std::string(kAllowedMethods));
    reply.header("Access-Control-Allow-Headers", "Content-Type");
    reply.header("Access-Control-Max-Age", "600");
  }
  return reply;
}

bool Dispatcher::from_another_site(const Request& request) const {
  if (!settings_.cross_site_guard) return false;
  const std::string_view site = request.param("HTTP_SEC_FETCH_SITE");
  if (site == "same-origin" || site == "none") return false;  // this origin's page, or the user's own navigation
  const std::string_view origin = request.param("HTTP_ORIGIN");
  if (!site.empty()) return allowed_origin(origin).empty();  // same-site is another origin too
  if (origin.empty()) return false;                          // not a browser's cross-origin request
  return !is_own_origin(request, origin) && allowed_origin(origin).empty();
}

void Dispatcher::add_cors(const Request& request, Reply& reply) const {
  if (settings_.cors_origins.empty()) return;  // the default: no lookup, no allocation per request
  const std::string_view allowed = allowed_origin(request.header("Origin"));
  if (allowed.empty()) return;
  const bool has_cors = std::any_of(reply.headers.begin(), reply.headers.end(),
                                    [](const auto& header) { return header.first == "Access-Control-Allow-Origin"; });
  if (has_cors) return;
  reply.header("Access-Control-Allow-Origin", std::string(allowed));
  if (allowed != "*") reply.header("Vary", "Origin");
}

std::string_view Dispatcher::allowed_origin(std::string_view origin) const {
  if (origin.empty()) return {};
  for (const std::string& allowed : settings_.cors_origins)
    if (allowed == "*" || allowed == origin) return allowed;
  return {};
}

}  // namespace cppapi
