// SPDX-License-Identifier: MIT
// The reply writer on arbitrary replies, and the JSON error body on arbitrary text.
// Input: escaped fields (see fuzz_support.hpp), one per line:
//   status, content type, body, error message, error call, then header name/value pairs.
// reply_problem must refuse exactly what a reference check refuses; a reply it lets
// through must render to a well-formed head (check_head). error_reply must give valid
// UTF-8 JSON carrying the same status and, when they were valid UTF-8, the same texts.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "dispatch/error_reply.hpp"
#include "dispatch/reply_writer.hpp"
#include "fuzz_support.hpp"

namespace {

using cppapi::fuzz::field;

int parse_status(const std::string& text) {
  int status = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), status);
  return error == std::errc{} && end == text.data() + text.size() ? status : 0;
}

bool is_field_value(std::string_view value) {
  return std::all_of(value.begin(), value.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte == '\t' || (byte >= 0x20 && byte != 0x7f);
  });
}

bool is_token(std::string_view name) {
  constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::all_of(name.begin(), name.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           kSymbols.find(c) != std::string_view::npos;
  });
}

bool is_owned(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
  return name == "status" || name == "content-type" || name == "content-length" || name == "transfer-encoding";
}

/// RFC 9110 field syntax plus the framework's own rules, written independently of reply_writer.cpp.
bool reference_acceptable(const cppapi::Reply& reply) {
  if (reply.status < 200 || reply.status > 599) return false;
  if (reply.content_type.empty() || !is_field_value(reply.content_type)) return false;
  return std::all_of(reply.headers.begin(), reply.headers.end(), [](const auto& header) {
    return is_token(header.first) && is_field_value(header.second) && !is_owned(header.first);
  });
}

void check_error_reply(int status, const std::string& message, const std::string& call) {
  const cppapi::Reply reply = cppapi::error_reply(status, message, call);
  FUZZ_CHECK(reply.status == status);
  FUZZ_CHECK(reply.content_type == "application/json");
  FUZZ_CHECK(reply.headers.empty());
  FUZZ_CHECK(cppapi::fuzz::is_valid_utf8(reply.body));
  nlohmann::json body;
  try {
    body = nlohmann::json::parse(reply.body);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "error_reply body is not JSON (%s): %s\n", error.what(), reply.body.c_str());
    cppapi::fuzz::fail("error_reply gives valid JSON", __FILE__, __LINE__);
  }
  FUZZ_CHECK(body.is_object() && body.size() == 3);
  FUZZ_CHECK(body["status"].is_number_integer() && body["status"].get<int>() == status);
  FUZZ_CHECK(body["error"].is_string() && body["call"].is_string());
  if (cppapi::fuzz::is_valid_utf8(message)) FUZZ_CHECK(body["error"].get<std::string>() == message);
  if (cppapi::fuzz::is_valid_utf8(call)) FUZZ_CHECK(body["call"].get<std::string>() == call);
  if (status >= 200 && status <= 599) {
    FUZZ_CHECK(!cppapi::reply_problem(reply));
    cppapi::fuzz::check_head(reply);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto fields = cppapi::fuzz::escaped_fields(cppapi::fuzz::as_text(data, size));
  cppapi::Reply reply{parse_status(field(fields, 0)), field(fields, 1), {}, field(fields, 2)};
  for (std::size_t i = 5; i < fields.size(); i += 2) reply.header(fields[i], field(fields, i + 1));

  const std::string_view phrase = cppapi::reason_phrase(reply.status);
  FUZZ_CHECK(!phrase.empty() && is_field_value(phrase));

  const auto problem = cppapi::reply_problem(reply);
  FUZZ_CHECK(problem.has_value() != reference_acceptable(reply));
  if (problem)
    FUZZ_CHECK(!problem->empty());
  else
    cppapi::fuzz::check_head(reply);

  check_error_reply(reply.status, field(fields, 3), field(fields, 4));
  return 0;
}
