// SPDX-License-Identifier: MIT
#pragma once
#include <charconv>
#include <cstddef>
#include <string_view>

namespace cppapi {

/// What a request's CONTENT_LENGTH says, judged against the body limit. The one
/// place both responders (FastCGI and CGI) read it; neither trusts it alone, since
/// the header may lie: the bytes that arrive are counted too.
struct DeclaredLength {
  enum class Verdict { kAbsent, kFits, kTooLarge, kMalformed };
  Verdict verdict = Verdict::kAbsent;
  std::size_t bytes = 0;
};

inline DeclaredLength judge_content_length(std::string_view text, std::size_t max_bytes) {
  using Verdict = DeclaredLength::Verdict;
  if (text.empty()) return {};
  std::size_t declared = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), declared);
  if (error == std::errc::result_out_of_range) return {Verdict::kTooLarge, 0};
  if (error != std::errc{} || end != text.data() + text.size()) return {Verdict::kMalformed, 0};
  return {declared > max_bytes ? Verdict::kTooLarge : Verdict::kFits, declared};
}

}  // namespace cppapi
