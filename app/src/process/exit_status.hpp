// SPDX-License-Identifier: MIT
#pragma once
#include <string>

namespace cppapi {

/// "SIGTERM", or "signal 42" for one without a name.
std::string signal_name(int signal_number);
/// How a child ended, from its wait status: "exited with status 3", "killed by SIGABRT (core dumped)".
std::string describe_exit(int status);

}  // namespace cppapi
