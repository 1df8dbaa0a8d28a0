// SPDX-License-Identifier: MIT
#pragma once
#include <string_view>

namespace cppapi {

enum class StartupMode {
  kSocketActivated,  ///< systemd passed the listener as fd 3 (LISTEN_FDS, LISTEN_PID)
  kSpawned,          ///< fd 0 is a listening socket (spawn-fcgi, lighttpd bin-path, mod_fcgid)
  kCgi,              ///< GATEWAY_INTERFACE is set and stdin is not a listener
  kNone,             ///< run by hand without a subcommand
};

/// Works out how cppapi was started when no subcommand was given.
StartupMode detect_startup_mode();
std::string_view describe(StartupMode mode);

/// The inherited listening socket for the first two modes; clears LISTEN_* so that
/// children do not inherit them.
int inherited_listen_fd(StartupMode mode);

}  // namespace cppapi
