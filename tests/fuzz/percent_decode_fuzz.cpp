// SPDX-License-Identifier: MIT
// percent_decode on arbitrary bytes, two ways. As an argument arriving in a URI: the
// result must match a plain reference decoder exactly (same bytes, same refusals).
// As raw data: encoded by an independent encoder (only what must be escaped, and
// every byte, in upper and lower case hex), it must decode back to itself.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "dispatch/percent_decode.hpp"
#include "fuzz_support.hpp"

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// What DESIGN.md says: %XX is one byte, `+` is a plus, a `%` without two hex digits is an error.
std::optional<std::string> reference_decode(std::string_view text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '%') {
      out += text[i++];
    } else if (text.size() - i >= 3 && hex_digit(text[i + 1]) >= 0 && hex_digit(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(text[i + 1]) << 4 | hex_digit(text[i + 2]));
      i += 3;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

enum class Escape { kNeeded, kEverything };

std::string encode(std::string_view raw, Escape which, bool lower_case) {
  const char* const digits = lower_case ? "0123456789abcdef" : "0123456789ABCDEF";
  std::string out;
  for (const char c : raw) {
    const auto byte = static_cast<unsigned char>(c);
    // Kept literal: what a browser leaves alone in a path, `+` included (it is no space here).
    const bool literal =
        which == Escape::kNeeded && byte > 0x20 && byte < 0x7f && c != '%' && c != '&' && c != '?' && c != '#';
    if (literal) {
      out += c;
    } else {
      out += '%';
      out += digits[byte >> 4];
      out += digits[byte & 0xF];
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = cppapi::fuzz::as_text(data, size);

  const std::optional<std::string> decoded = cppapi::percent_decode(input);
  const std::optional<std::string> expected = reference_decode(input);
  FUZZ_CHECK(decoded.has_value() == expected.has_value());
  if (decoded) {
    FUZZ_CHECK(*decoded == *expected);
    FUZZ_CHECK(decoded->size() <= input.size());
  }

  for (const Escape which : {Escape::kNeeded, Escape::kEverything}) {
    for (const bool lower_case : {false, true}) {
      const std::string encoded = encode(input, which, lower_case);
      const std::optional<std::string> round_trip = cppapi::percent_decode(encoded);
      FUZZ_CHECK(round_trip && *round_trip == input);
    }
  }
  return 0;
}
