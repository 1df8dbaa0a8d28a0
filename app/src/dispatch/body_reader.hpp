// SPDX-License-Identifier: MIT
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "cppapi/http_error.hpp"

#include "core/content_length.hpp"

namespace cppapi {

struct BodyRead {
  std::string bytes;
  std::optional<HttpError> refusal;  ///< 400 or 413 when the body cannot be taken
};

/// Reads a request body through `read(buffer, size)` (returns bytes read, 0 at the
/// end, < 0 on error). CONTENT_LENGTH is checked against `max_bytes` before anything
/// is read and what actually arrives is counted too, since the header may lie.
/// With `to_eof` the declared length is only a hint (FastCGI); without it exactly
/// that many bytes are read (CGI, where stdin need not end).
template <class ReadFn>
BodyRead read_body(const char* content_length, std::size_t max_bytes, bool to_eof, ReadFn read) {
  BodyRead result;
  const DeclaredLength length = judge_content_length(content_length ? content_length : "", max_bytes);
  if (length.verdict == DeclaredLength::Verdict::kTooLarge) {
    result.refusal.emplace(413, "request body too large: limit " + std::to_string(max_bytes) + " bytes");
    return result;
  }
  if (length.verdict == DeclaredLength::Verdict::kMalformed) {
    result.refusal.emplace(400, "bad CONTENT_LENGTH");
    return result;
  }
  const std::size_t declared = length.bytes;
  if (!to_eof && declared == 0) return result;
  result.bytes.reserve(declared);
  char buffer[16384];
  while (to_eof || result.bytes.size() < declared) {
    const std::size_t want = to_eof ? sizeof buffer : std::min(sizeof buffer, declared - result.bytes.size());
    const auto got = read(buffer, want);
    if (got < 0) {
      result.refusal.emplace(400, "request body could not be read");
      return result;
    }
    if (got == 0) break;
    if (result.bytes.size() + static_cast<std::size_t>(got) > max_bytes) {
      result.refusal.emplace(413, "request body too large: limit " + std::to_string(max_bytes) + " bytes");
      result.bytes.clear();
      return result;
    }
    result.bytes.append(buffer, static_cast<std::size_t>(got));
  }
  if (!to_eof && result.bytes.size() < declared)
    result.refusal.emplace(400, "request body shorter than CONTENT_LENGTH");
  return result;
}

}  // namespace cppapi
