// SPDX-License-Identifier: MIT
#pragma once
#include "dispatch/dispatcher.hpp"

namespace cppapi {

/// Plain CGI: the request is in the environment and on stdin, the reply goes to
/// stdout, then the process exits. Returns the exit status.
int run_cgi(const Dispatcher& dispatcher);

}  // namespace cppapi
