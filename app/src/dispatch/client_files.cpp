// SPDX-License-Identifier: MIT
#include "dispatch/client_files.hpp"

#include <cstdint>

#include <fmt/format.h>

#include "core/text.hpp"
#include "dispatch/error_reply.hpp"
#include "dispatch/js_proxies.hpp"
#include "dispatch/openapi.hpp"

namespace cppapi {
ClientFiles::ClientFiles(const Registry& registry, const Settings& settings) : enabled_(settings.openapi) {
  if (!enabled_) return;
  const auto add = [this](std::string_view name, std::string content_type, std::string body) {
    std::string tag = etag(body);
    files_.push_back({name, std::move(content_type), std::move(body), std::move(tag)});
  };
  add(kOpenApi, "application/json", openapi_document(registry, settings.prefix));
  add(kCallsJs, "text/javascript; charset=utf-8", js_proxies(registry));
}

std::optional<Reply> ClientFiles::serve(const Request& request, std::string_view name) const {
  if (name != kOpenApi && name != kCallsJs) return std::nullopt;
  if (!enabled_) return error_reply(404, fmt::format("no such call: {}", name), name);
  if (request.method() != "GET" && request.method() != "HEAD") {
    Reply reply = error_reply(405, fmt::format("{} is read with GET or HEAD", name), name);
    reply.header("Allow", "GET, HEAD");
    return reply;
  }
  for (const File& file : files_) {
    if (file.name != name) continue;
    const bool unchanged = matches(request.header("If-None-Match"), file.etag);
    Reply reply{unchanged ? 304 : 200, file.content_type, {}, unchanged ? std::string() : file.body};
    reply.header("ETag", file.etag);
    reply.header("Cache-Control", "no-cache");  // revalidate each time: a deploy changes the calls
    return reply;
  }
  return std::nullopt;
}

std::string ClientFiles::etag(std::string_view bytes) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ull;
  }
  return fmt::format("\"{:016x}\"", hash);
}

bool ClientFiles::matches(std::string_view if_none_match, std::string_view etag) {
  while (!if_none_match.empty()) {
    const std::size_t comma = if_none_match.find(',');
    std::string_view tag = trim(if_none_match.substr(0, comma));
    if (tag == "*") return true;
    if (tag.starts_with("W/")) tag.remove_prefix(2);  // If-None-Match compares weakly
    if (tag == etag) return true;
    if (comma == std::string_view::npos) break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace cppapi
