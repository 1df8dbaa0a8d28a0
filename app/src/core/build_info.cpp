// SPDX-License-Identifier: MIT
#include "core/build_info.hpp"

#include "cppapi_build_id.hpp"  // generated in the build tree (cmake/CppapiBuildId.cmake)

namespace cppapi {

std::string_view project_version() { return CPPAPI_VERSION; }

std::string_view build_id() { return CPPAPI_BUILD_ID; }

std::string full_version() { return std::string(project_version()) + " (" + std::string(build_id()) + ")"; }

}  // namespace cppapi
