// SPDX-License-Identifier: MIT
// What `serve` refuses before it opens anything, checked again by every reload: a reload
// must never switch to settings that a start would have refused.
#pragma once
#include <sys/types.h>

#include <optional>

#include "core/log.hpp"
#include "core/settings.hpp"
#include "process/privileges.hpp"

namespace cppapi {

/// Whom the serving processes run as. No account: as this process is.
struct WorkerIdentity {
  std::optional<Account> account;  ///< set when root must become this user
  gid_t gid = static_cast<gid_t>(-1);
};

/// Checks `settings` as a start does and resolves --user/--group. `own_socket`: cppapi
/// opens the socket itself (`serve`), rather than inheriting it from a spawner or
/// systemd (then `listen` is not needed, and root without --user is only warned about).
/// Throws std::runtime_error with the reason.
WorkerIdentity check_serve_settings(const Settings& settings, bool own_socket);

/// Who should own a log file root opens, so that workers running as `identity` can
/// reopen it after a rotation.
LogFileOwner log_owner_for(const WorkerIdentity& identity);

}  // namespace cppapi
