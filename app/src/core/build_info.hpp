// SPDX-License-Identifier: MIT
#pragma once
#include <string>
#include <string_view>

namespace cppapi {

/// The project version, e.g. "0.1.0".
std::string_view project_version();
/// What this binary was built from: `git describe --always --dirty` at build time, with
/// "+dirty" for a modified checkout (e.g. "02711c7+dirty"), or "unknown" outside git.
std::string_view build_id();
/// Both, as the status pages and `cppapi --version` show them: "0.1.0 (02711c7+dirty)".
std::string full_version();

}  // namespace cppapi
