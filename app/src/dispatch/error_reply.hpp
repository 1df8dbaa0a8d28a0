// SPDX-License-Identifier: MIT
#pragma once
#include <string_view>

#include "cppapi/reply.hpp"

namespace cppapi {

/// The JSON error every failure answers with: {"error": ..., "status": ..., "call": ...}.
/// Input echoed in `message` or `call` is escaped, and invalid UTF-8 replaced, so the
/// body is always valid JSON.
Reply error_reply(int status, std::string_view message, std::string_view call);

}  // namespace cppapi
