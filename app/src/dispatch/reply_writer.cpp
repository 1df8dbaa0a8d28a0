// SPDX-License-Identifier: MIT
#include "dispatch/reply_writer.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include <fmt/format.h>

namespace cppapi {
namespace {

bool has_no_body(int status) { return status == 204 || status == 304; }

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_valid_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), is_token_char);
}

bool is_valid_value(std::string_view value) {
  return std::none_of(value.begin(), value.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return (byte < 0x20 && c != '\t') || byte == 0x7f;
  });
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::optional<std::string> reply_problem(const Reply& reply) {
  if (reply.status < 200 || reply.status > 599)
    return fmt::format("status {} is not between 200 and 599", reply.status);
  if (reply.content_type.empty() || !is_valid_value(reply.content_type)) return "invalid content type";
  for (const auto& [name, value] : reply.headers) {
    if (!is_valid_name(name)) return "invalid header name";
    if (!is_valid_value(value)) return fmt::format("header {}: value holds a control character", name);
    for (std::string_view owned : {"Status", "Content-Type", "Content-Length", "Transfer-Encoding"})
      if (iequals(name, owned)) return fmt::format("header {} is set by the framework", name);
  }
  return std::nullopt;
}

std::string render_head(const Reply& reply) {
  std::string head;
  head.reserve(96 + reply.content_type.size());
  fmt::format_to(std::back_inserter(head), "Status: {} {}\r\nContent-Type: {}\r\n", reply.status,
                 reason_phrase(reply.status), reply.content_type);
  if (!has_no_body(reply.status)) fmt::format_to(std::back_inserter(head), "Content-Length: {}\r\n", reply.body.size());
  for (const auto& [name, value] : reply.headers) fmt::format_to(std::back_inserter(head), "{}: {}\r\n", name, value);
  head += "\r\n";
  return head;
}

bool sends_body(const Reply& reply, std::string_view method) { return method != "HEAD" && !has_no_body(reply.status); }

std::string_view reason_phrase(int status) {
  static constexpr std::array<std::pair<int, std::string_view>, 30> kPhrases{{
      {200, "OK"},
      {201, "Created"},
      {202, "Accepted"},
      {204, "No Content"},
      {206, "Partial Content"},
      {301, "Moved Permanently"},
      {302, "Found"},
      {303, "See Other"},
      {304, "Not Modified"},
      {307, "Temporary Redirect"},
      {308, "Permanent Redirect"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {406, "Not Acceptable"},
      {408, "Request Timeout"},
      {409, "Conflict"},
      {410, "Gone"},
      {411, "Length Required"},
      {413, "Content Too Large"},
      {414, "URI Too Long"},
      {415, "Unsupported Media Type"},
      {422, "Unprocessable Content"},
      {429, "Too Many Requests"},
      {500, "Internal Server Error"},
      {502, "Bad Gateway"},
      {503, "Service Unavailable"},
      {504, "Gateway Timeout"},
  }};
  for (const auto& [code, phrase] : kPhrases)
    if (code == status) return phrase;
  return "Unknown";
}

}  // namespace cppapi
