// SPDX-License-Identifier: MIT
#pragma once
#include <string>
#include <vector>

namespace cppapi {

/// The call's arguments, split on `&` and percent-decoded one by one.
using Args = std::vector<std::string>;

}  // namespace cppapi
