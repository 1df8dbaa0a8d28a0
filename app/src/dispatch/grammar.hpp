// SPDX-License-Identifier: MIT
#pragma once
#include <string>
#include <string_view>

#include "cppapi/args.hpp"

#include "core/limits.hpp"

namespace cppapi {

/// A call as written in the URI: `/api/notes/get&17` -> {"notes/get", {"17"}}.
struct ParsedCall {
  std::string name;
  Args args;
};

/// The raw call text: what follows `prefix` in `request_uri`, without the query.
/// Empty when the URI is not under the prefix.
std::string_view raw_call_text(std::string_view request_uri, std::string_view prefix);
/// The call's name as written, before any check: the raw call text up to its first '&'.
std::string_view raw_call_name(std::string_view request_uri, std::string_view prefix);

/// True when `name` is segment("/"segment)* with segment := [A-Za-z0-9_-]+.
bool is_valid_call_name(std::string_view name);

/// Parses the raw, undecoded REQUEST_URI. Splits on `&` first, then percent-decodes
/// each argument alone, so `%26` is an `&` inside an argument.
/// Throws HttpError (400, 404 or 414) for anything that does not parse.
ParsedCall parse_call(std::string_view request_uri, std::string_view prefix, const Limits& limits);

}  // namespace cppapi
