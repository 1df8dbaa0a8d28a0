// SPDX-License-Identifier: MIT
// The one place that turns a Reply into bytes. The body is complete before the head
// is rendered, so Content-Length is the body's size in bytes, whatever it holds.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "cppapi/reply.hpp"

namespace cppapi {

/// Why this reply cannot be sent as it is (bad status, a header with CR/LF/NUL, a
/// header the framework owns), or nullopt when it is fine.
std::optional<std::string> reply_problem(const Reply& reply);

/// The CGI-style head: Status, Content-Type, Content-Length, the handler's headers,
/// blank line. 204 and 304 carry no Content-Length and no body (RFC 9110).
std::string render_head(const Reply& reply);

/// Whether the body follows the head: never for HEAD, 204 or 304.
bool sends_body(const Reply& reply, std::string_view method);

/// "Not Found" for 404; "Unknown" for a code without a standard phrase.
std::string_view reason_phrase(int status);

}  // namespace cppapi
