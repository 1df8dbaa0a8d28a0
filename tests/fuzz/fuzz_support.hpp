// SPDX-License-Identifier: MIT
// What the fuzz targets share: a check that libFuzzer records as a crash (it aborts,
// so the input is saved as an artifact), the escaped line format the text-shaped
// targets read, and the checks every reply must pass whatever produced it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cppapi/reply.hpp"

#include "dispatch/reply_writer.hpp"

/// Aborts with the failed condition: an invariant broken is a finding, like a crash.
#define FUZZ_CHECK(condition)                                               \
  do {                                                                      \
    if (!(condition)) ::cppapi::fuzz::fail(#condition, __FILE__, __LINE__); \
  } while (false)

namespace cppapi::fuzz {

[[noreturn]] inline void fail(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "fuzz invariant broken: %s (%s:%d)\n", condition, file, line);
  std::abort();
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Splits the input on raw LF, then undoes the escapes `\n \r \t \0 \\ \xHH` in each
/// field, so a hand-written seed stays one readable line per field while any byte
/// (LF and NUL included) can still reach the code under test. An unknown escape is
/// kept as written.
inline std::vector<std::string> escaped_fields(std::string_view input) {
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<std::string> fields(1);
  for (std::size_t i = 0; i < input.size(); ++i) {
    const char c = input[i];
    if (c == '\n') {
      fields.emplace_back();
      continue;
    }
    std::string& field = fields.back();
    if (c != '\\' || i + 1 == input.size()) {
      field += c;
      continue;
    }
    const char next = input[i + 1];
    const char* simple = nullptr;
    switch (next) {
      case 'n':
        simple = "\n";
        break;
      case 'r':
        simple = "\r";
        break;
      case 't':
        simple = "\t";
        break;
      case '\\':
        simple = "\\";
        break;
      default:
        break;
    }
    if (simple) {
      field += *simple;
      ++i;
    } else if (next == '0') {
      field += '\0';
      ++i;
    } else if (next == 'x' && i + 3 < input.size() && hex(input[i + 2]) >= 0 && hex(input[i + 3]) >= 0) {
      field += static_cast<char>(hex(input[i + 2]) * 16 + hex(input[i + 3]));
      i += 3;
    } else {
      field += c;
    }
  }
  return fields;
}

/// Field `index`, or empty when the input has fewer fields.
inline const std::string& field(const std::vector<std::string>& fields, std::size_t index) {
  static const std::string kEmpty;
  return index < fields.size() ? fields[index] : kEmpty;
}

/// Strict UTF-8 (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
inline bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    std::size_t length = 0;
    std::uint32_t code = 0, minimum = 0;
    if (byte < 0x80)
      length = 1, code = byte;
    else if ((byte & 0xE0) == 0xC0)
      length = 2, code = byte & 0x1Fu, minimum = 0x80;
    else if ((byte & 0xF0) == 0xE0)
      length = 3, code = byte & 0x0Fu, minimum = 0x800;
    else if ((byte & 0xF8) == 0xF0)
      length = 4, code = byte & 0x07u, minimum = 0x10000;
    else
      return false;
    if (text.size() - i < length) return false;
    for (std::size_t k = 1; k < length; ++k) {
      const auto continuation = static_cast<unsigned char>(text[i + k]);
      if ((continuation & 0xC0) != 0x80) return false;
      code = (code << 6) | (continuation & 0x3Fu);
    }
    if (code < minimum || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += length;
  }
  return true;
}

/// The bytes a responder writes for `reply` hold together: one CRLF-terminated line per
/// header, no CR or LF inside a line, exactly one blank line (at the end), and a
/// Content-Length equal to the body's size unless the status forbids a body.
inline void check_head(const Reply& reply) {
  const std::string head = render_head(reply);
  FUZZ_CHECK(head.size() >= 4 && head.ends_with("\r\n\r\n"));
  FUZZ_CHECK(head.find("\r\n\r\n") == head.size() - 4);
  std::vector<std::string_view> lines;
  std::string_view rest(head.data(), head.size() - 2);  // drop the final blank line's CRLF
  while (!rest.empty()) {
    const std::size_t end = rest.find("\r\n");
    FUZZ_CHECK(end != std::string_view::npos);
    const std::string_view line = rest.substr(0, end);
    FUZZ_CHECK(!line.empty() && line.find_first_of("\r\n") == std::string_view::npos);
    FUZZ_CHECK(line.find(':') != std::string_view::npos);
    lines.push_back(line);
    rest.remove_prefix(end + 2);
  }
  const bool bodiless = reply.status == 204 || reply.status == 304;
  FUZZ_CHECK(lines.size() == reply.headers.size() + (bodiless ? 2 : 3));
  FUZZ_CHECK(lines[0] == "Status: " + std::to_string(reply.status) + " " + std::string(reason_phrase(reply.status)));
  FUZZ_CHECK(lines[1] == "Content-Type: " + reply.content_type);
  std::size_t lengths = 0;
  for (const std::string_view line : lines)
    if (line.starts_with("Content-Length: ")) ++lengths;
  FUZZ_CHECK(lengths == (bodiless ? 0u : 1u));
  if (!bodiless) FUZZ_CHECK(lines[2] == "Content-Length: " + std::to_string(reply.body.size()));
  FUZZ_CHECK(!sends_body(reply, "HEAD"));
  FUZZ_CHECK(sends_body(reply, "GET") == !bodiless);
}

}  // namespace cppapi::fuzz
