// SPDX-License-Identifier: MIT
// convert_argument for every numeric and boolean parameter type on arbitrary text
// (the whole input is one decoded argument). Only HttpError 400 may escape, with a
// short message naming the argument. What is accepted is checked against the grammar
// of a strict conversion: integers are -?[0-9]+ in range and print back to the same
// value; numbers are finite and agree with strtod; booleans are true/false/1/0.
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "cppapi/detail/convert.hpp"
#include "cppapi/http_error.hpp"

#include "fuzz_support.hpp"

namespace {

using cppapi::fuzz::fail;

constexpr std::size_t kPosition = 3;
// "argument 3: out of range for non-negative integer, got "<64 bytes>..." (N bytes)"
constexpr std::size_t kMaxMessage = 200;

enum class Verdict { kAccepted, kRefused, kOutOfRange };

/// Converts and checks the refusal; the value only when accepted.
template <class T>
std::pair<Verdict, T> convert(std::string_view text) {
  try {
    return {Verdict::kAccepted, cppapi::detail::convert_argument<T>(text, kPosition)};
  } catch (const cppapi::HttpError& error) {
    const std::string_view message = error.what();
    FUZZ_CHECK(error.status() == 400);
    FUZZ_CHECK(message.starts_with("argument 3: "));
    FUZZ_CHECK(message.size() <= kMaxMessage);
    const bool out_of_range = message.starts_with("argument 3: out of range for ");
    return {out_of_range ? Verdict::kOutOfRange : Verdict::kRefused, T{}};
  } catch (const std::exception& error) {
    std::fprintf(stderr, "convert_argument threw %s\n", error.what());
    fail("only HttpError escapes convert_argument", __FILE__, __LINE__);
  } catch (...) {
    fail("only HttpError escapes convert_argument", __FILE__, __LINE__);
  }
}

/// The text as to_chars would print the value it denotes: no leading zeros, no "-0".
/// Empty when the text is not -?[0-9]+ (or has a sign an unsigned type refuses).
template <class T>
std::string canonical_integer(std::string_view text) {
  const bool negative = text.starts_with('-');
  if (negative) {
    if (std::is_unsigned_v<T>) return {};
    text.remove_prefix(1);
  }
  if (text.empty() || text.find_first_not_of("0123456789") != std::string_view::npos) return {};
  const std::size_t first = text.find_first_not_of('0');
  if (first == std::string_view::npos) return "0";
  return (negative ? "-" : "") + std::string(text.substr(first));
}

/// Whether canonical decimal text fits in T, decided without T's own arithmetic.
template <class T>
bool fits(const std::string& canonical) {
  const bool negative = canonical.starts_with('-');
  const std::string digits = canonical.substr(negative ? 1 : 0);
  const std::string limit = negative ? std::to_string(std::numeric_limits<T>::min()).substr(1)
                                     : std::to_string(std::numeric_limits<T>::max());
  return digits.size() < limit.size() || (digits.size() == limit.size() && digits <= limit);
}

template <class T>
void check_integer(std::string_view text) {
  const auto [verdict, value] = convert<T>(text);
  const std::string canonical = canonical_integer<T>(text);
  if (canonical.empty()) {
    FUZZ_CHECK(verdict == Verdict::kRefused);
    return;
  }
  if (!fits<T>(canonical)) {
    FUZZ_CHECK(verdict == Verdict::kOutOfRange);
    return;
  }
  FUZZ_CHECK(verdict == Verdict::kAccepted);
  char buffer[64];
  const auto printed = std::to_chars(buffer, buffer + sizeof buffer, value);
  FUZZ_CHECK(printed.ec == std::errc{});
  const std::string_view text_back(buffer, static_cast<std::size_t>(printed.ptr - buffer));
  FUZZ_CHECK(text_back == canonical);
  T back{};
  const auto parsed = std::from_chars(text_back.data(), text_back.data() + text_back.size(), back);
  FUZZ_CHECK(parsed.ec == std::errc{} && parsed.ptr == text_back.data() + text_back.size() && back == value);
}

void check_double(std::string_view text) {
  const auto [verdict, value] = convert<double>(text);
  if (verdict != Verdict::kAccepted) return;
  FUZZ_CHECK(std::isfinite(value));
  FUZZ_CHECK(!text.empty() && text.find('\0') == std::string_view::npos);
  // No whitespace, leading '+', hex, infinity or nan: only what a strict number looks like.
  FUZZ_CHECK(text.find_first_not_of("0123456789+-.eE") == std::string_view::npos);
  FUZZ_CHECK(text.front() != '+');
  // The shortest text for the value reads back as the very same double.
  char buffer[64];
  const auto printed = std::to_chars(buffer, buffer + sizeof buffer, value);
  FUZZ_CHECK(printed.ec == std::errc{});
  double back = 0;
  const auto parsed = std::from_chars(buffer, printed.ptr, back);
  FUZZ_CHECK(parsed.ec == std::errc{} && parsed.ptr == printed.ptr);
  FUZZ_CHECK(std::memcmp(&back, &value, sizeof value) == 0);
  // An independent parser agrees (the C locale is never changed in this process).
  const std::string terminated(text);
  char* end = nullptr;
  errno = 0;
  const double from_strtod = std::strtod(terminated.c_str(), &end);
  FUZZ_CHECK(end == terminated.c_str() + terminated.size());
  FUZZ_CHECK(std::memcmp(&from_strtod, &value, sizeof value) == 0);
}

void check_bool(std::string_view text) {
  const auto [verdict, value] = convert<bool>(text);
  const bool is_true = text == "true" || text == "1", is_false = text == "false" || text == "0";
  FUZZ_CHECK((verdict == Verdict::kAccepted) == (is_true || is_false));
  if (verdict == Verdict::kAccepted)
    FUZZ_CHECK(value == is_true);
  else
    FUZZ_CHECK(verdict == Verdict::kRefused);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = cppapi::fuzz::as_text(data, size);
  check_integer<int>(text);
  check_integer<long>(text);
  check_integer<long long>(text);
  check_integer<unsigned>(text);
  check_integer<unsigned long>(text);
  check_double(text);
  check_bool(text);
  // Strings pass through untouched, whatever the bytes.
  FUZZ_CHECK(cppapi::detail::convert_argument<std::string>(text, kPosition) == text);
  FUZZ_CHECK(cppapi::detail::convert_argument<std::string_view>(text, kPosition) == text);
  return 0;
}
