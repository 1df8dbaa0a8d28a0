// SPDX-License-Identifier: MIT
#include "dispatch/grammar.hpp"

#include <fmt/format.h>

#include "cppapi/detail/convert.hpp"
#include "cppapi/http_error.hpp"

#include "dispatch/percent_decode.hpp"

namespace cppapi {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/// What a front server makes of one unit of the path before it removes dot segments:
/// it decodes %2e and %2f (any case) into `.` and `/`. Advances `i` past the unit.
char decoded_unit(std::string_view path, std::size_t& i) {
  if (path[i] == '%' && i + 2 < path.size() && path[i + 1] == '2') {
    const char low = static_cast<char>(path[i + 2] | 0x20);
    if (low == 'e' || low == 'f') {
      i += 3;
      return low == 'e' ? '.' : '/';
    }
  }
  return path[i++];
}

/// True when a `/`-separated segment of `path` is `.` or `..`, counting %2e and %2f.
bool has_dot_segment(std::string_view path) {
  int dots = 0;  // dots since the last `/`; -1 once the segment holds anything else
  for (std::size_t i = 0; i < path.size();) {
    const char c = decoded_unit(path, i);
    if (c == '/') {
      if (dots == 1 || dots == 2) return true;
      dots = 0;
    } else {
      dots = c == '.' && dots >= 0 ? dots + 1 : -1;
    }
  }
  return dots == 1 || dots == 2;
}

}  // namespace

std::string_view raw_call_text(std::string_view request_uri, std::string_view prefix) {
  if (request_uri.substr(0, prefix.size()) != prefix) return {};
  std::string_view rest = request_uri.substr(prefix.size());
  return rest.substr(0, rest.find_first_of("?#"));
}

std::string_view raw_call_name(std::string_view request_uri, std::string_view prefix) {
  const std::string_view call = raw_call_text(request_uri, prefix);
  return call.substr(0, call.find('&'));
}

bool is_valid_call_name(std::string_view name) {
  bool segment_empty = true;
  for (char c : name) {
    if (c == '/') {
      if (segment_empty) return false;
      segment_empty = true;
    } else if (is_name_char(c)) {
      segment_empty = false;
    } else {
      return false;
    }
  }
  return !segment_empty;
}

ParsedCall parse_call(std::string_view request_uri, std::string_view prefix, const Limits& limits) {
  if (request_uri.empty()) throw HttpError(400, "missing REQUEST_URI");
  if (request_uri.size() > limits.max_uri_bytes)
    throw HttpError(414, fmt::format("uri too long: {} bytes, limit {}", request_uri.size(), limits.max_uri_bytes));
  if (has_dot_segment(request_uri.substr(0, request_uri.find('?'))))
    throw HttpError(400,
                    "dot segment in the path (/./ or /../, also as %2e or %2f): a front server resolves it before "
                    "its access rules, so it is refused; send such text in a POST body");
  if (request_uri.substr(0, prefix.size()) != prefix)
    throw HttpError(404, fmt::format("not a call: the uri does not start with {}", prefix));

  // A URI on the wire never holds raw control bytes (RFC 3986); one that does was not
  // sent by a front server that parsed it. Percent-encoded (%0D, %01) they are arguments.
  for (const char c : request_uri)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      throw HttpError(
          400, fmt::format("control byte 0x{:02x} in the uri: percent-encode it", static_cast<unsigned char>(c)));

  const std::string_view call = raw_call_text(request_uri, prefix);
  const std::size_t name_end = call.find('&');
  ParsedCall parsed;
  const std::string_view name = call.substr(0, name_end);
  if (name.empty()) throw HttpError(400, "missing call name");
  if (!is_valid_call_name(name))
    throw HttpError(400, fmt::format("bad call name {}: use letters, digits, _ and - in /-separated segments",
                                     detail::quote_for_message(name)));
  parsed.name = name;

  if (name_end == std::string_view::npos) return parsed;
  std::string_view rest = call.substr(name_end + 1);
  while (true) {
    if (parsed.args.size() == limits.max_arguments)
      throw HttpError(400, fmt::format("too many arguments: limit {}", limits.max_arguments));
    const std::size_t end = rest.find('&');
    const std::string_view piece = rest.substr(0, end);
    auto decoded = percent_decode(piece);
    if (!decoded)
      throw HttpError(400, fmt::format("argument {}: bad percent-escape in {}", parsed.args.size() + 1,
                                       detail::quote_for_message(piece)));
    if (decoded->find('\0') != std::string::npos)
      throw HttpError(400, fmt::format("argument {}: NUL byte not allowed", parsed.args.size() + 1));
    parsed.args.push_back(std::move(*decoded));
    if (end == std::string_view::npos) break;
    rest = rest.substr(end + 1);
  }
  return parsed;
}

}  // namespace cppapi
