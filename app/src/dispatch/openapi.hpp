// SPDX-License-Identifier: MIT
#pragma once
#include <string>
#include <string_view>

#include "dispatch/registry.hpp"

namespace cppapi {

/// The OpenAPI 3.1 document of every call (`cppapi openapi`, GET <prefix>openapi.json):
/// one path per call in the call grammar (`/add&{a}&{b}`; a call with trailing optional
/// parameters gets one path per count it accepts), the server URL from `prefix`.
std::string openapi_document(const Registry& registry, std::string_view prefix);

}  // namespace cppapi
