// SPDX-License-Identifier: MIT
// parse_call on arbitrary bytes as REQUEST_URI (the whole input is the URI). Whatever
// the bytes: a parsed call whose name the registry would accept and whose arguments
// are exactly the `&`-separated pieces, each decoded alone; or an HttpError 400, 404
// or 414 with a short message. Nothing else may escape.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string_view>

#include "cppapi/http_error.hpp"

#include "dispatch/grammar.hpp"
#include "dispatch/percent_decode.hpp"
#include "fuzz_support.hpp"

namespace {

using cppapi::fuzz::fail;

struct Variant {
  std::string_view prefix;
  cppapi::Limits limits;
};

// The defaults; tight limits, so 414 and "too many arguments" are reached within
// libFuzzer's default -max_len; and the root as prefix.
const Variant kVariants[] = {
    {"/api/", {}},
    {"/api/", {.max_uri_bytes = 64, .max_arguments = 4}},
    {"/", {}},
};

// Longest message parse_call may produce: values are quoted shortened to 64 bytes.
constexpr std::size_t kMaxMessage = 256;

void check_refusal(std::string_view uri, const Variant& variant, const cppapi::HttpError& error) {
  const int status = error.status();
  FUZZ_CHECK(status == 400 || status == 404 || status == 414);
  FUZZ_CHECK(std::string_view(error.what()).size() <= kMaxMessage);
  const bool too_long = uri.size() > variant.limits.max_uri_bytes;
  FUZZ_CHECK((status == 414) == too_long);
  // Outside the prefix is a 404, except that a dot segment anywhere in the path is
  // refused first (400), whatever the prefix: /ap`/../x must not reach a 404 page.
  const bool outside = !uri.empty() && !too_long && !uri.starts_with(variant.prefix);
  if (status == 404) FUZZ_CHECK(outside);
  if (outside && status != 404) FUZZ_CHECK(status == 400 && std::string_view(error.what()).starts_with("dot segment"));
}

void check_parsed(std::string_view uri, const Variant& variant, const cppapi::ParsedCall& parsed) {
  FUZZ_CHECK(!uri.empty() && uri.size() <= variant.limits.max_uri_bytes && uri.starts_with(variant.prefix));
  FUZZ_CHECK(std::none_of(uri.begin(), uri.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;  // raw control bytes are a 400
  }));
  FUZZ_CHECK(cppapi::is_valid_call_name(parsed.name));
  FUZZ_CHECK(parsed.args.size() <= variant.limits.max_arguments);

  // Reference split: the call text up to ? or #, the name up to the first &, then one
  // argument per &-separated piece, decoded alone.
  std::string_view call = uri.substr(variant.prefix.size());
  call = call.substr(0, call.find_first_of("?#"));
  FUZZ_CHECK(cppapi::raw_call_text(uri, variant.prefix) == call);
  const std::size_t name_end = call.find('&');
  FUZZ_CHECK(parsed.name == call.substr(0, name_end));
  if (name_end == std::string_view::npos) {
    FUZZ_CHECK(parsed.args.empty());
    return;
  }
  std::string_view rest = call.substr(name_end + 1);
  FUZZ_CHECK(parsed.args.size() == static_cast<std::size_t>(std::count(rest.begin(), rest.end(), '&')) + 1);
  for (const std::string& arg : parsed.args) {
    FUZZ_CHECK(arg.find('\0') == std::string::npos);
    const std::size_t end = rest.find('&');
    const auto decoded = cppapi::percent_decode(rest.substr(0, end));
    FUZZ_CHECK(decoded && *decoded == arg);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view uri = cppapi::fuzz::as_text(data, size);
  for (const Variant& variant : kVariants) {
    try {
      check_parsed(uri, variant, cppapi::parse_call(uri, variant.prefix, variant.limits));
    } catch (const cppapi::HttpError& error) {
      check_refusal(uri, variant, error);
    } catch (const std::exception& error) {
      std::fprintf(stderr, "parse_call threw %s\n", error.what());
      fail("only HttpError escapes parse_call", __FILE__, __LINE__);
    } catch (...) {
      fail("only HttpError escapes parse_call", __FILE__, __LINE__);
    }
  }
  return 0;
}
