// SPDX-License-Identifier: MIT
#pragma once
#include "dispatch/registry.hpp"

namespace cppapi {

/// `cppapi serve|calls|call ...`, or with no arguments whatever mode the process was
/// started in (systemd, a spawner, CGI). Returns the exit status.
int run_command_line(int argc, char** argv, const Registry& registry);

}  // namespace cppapi
