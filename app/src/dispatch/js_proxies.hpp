// SPDX-License-Identifier: MIT
#pragma once
#include <string>
#include <string_view>

#include "dispatch/registry.hpp"

namespace cppapi {

/// www/requests.js as the build embedded it (generated from the file by app/CMakeLists.txt).
extern const char kRequestsJs[];

/// GET <prefix>calls.js: defines a global `calls` with one function per call, nested by
/// folder (`calls.notes.get(1)`), each returning the Promise of requests.js's api().
/// `requests_js` is included first, used only when the page has not loaded requests.js.
std::string js_proxies(const Registry& registry, std::string_view requests_js = kRequestsJs);

/// `cppapi types`: TypeScript declarations of `calls`, so that a wrong argument type or
/// count is a compile error.
std::string typescript_declarations(const Registry& registry);

}  // namespace cppapi
