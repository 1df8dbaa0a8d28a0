// SPDX-License-Identifier: MIT
// No descriptor of cppapi's leaks into a program a call runs: each one cppapi owns is
// close-on-exec, and a listener a spawner left on fd 0 moves off the standard input.
#pragma once

namespace cppapi {

/// The inherited listener `fd` (0 from a spawner, 3 from systemd) made close-on-exec;
/// fd 0 is first moved to a new descriptor, and /dev/null takes its place. Returns the
/// descriptor to listen on. Throws std::runtime_error if it cannot be moved.
int adopt_inherited_listener(int fd);

}  // namespace cppapi
