// SPDX-License-Identifier: MIT
#pragma once
#include <cstddef>

namespace cppapi {

/// Bounds on what a request may carry; each has a flag and a config key.
struct Limits {
  std::size_t max_uri_bytes = 8192;         ///< longer REQUEST_URI: 414
  std::size_t max_arguments = 256;          ///< more arguments: 400
  std::size_t max_body_bytes = 8 << 20;     ///< larger body: 413
  std::size_t max_params_bytes = 64 << 10;  ///< larger FastCGI parameters: connection dropped
};

}  // namespace cppapi
