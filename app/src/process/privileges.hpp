// SPDX-License-Identifier: MIT
// Leaving root: cppapi opens its socket as root (a privileged path or port), then
// becomes an ordinary user before any thread or worker exists.
#pragma once
#include <sys/types.h>

#include <string>
#include <string_view>

namespace cppapi {

struct Account {
  uid_t uid;
  gid_t gid;  ///< the user's primary group
  std::string name;
};

/// A user by name (or numeric uid). Throws std::runtime_error "no such user".
Account find_user(std::string_view name);
/// A group by name (or numeric gid). Throws std::runtime_error "no such group".
gid_t find_group(std::string_view name);

/// The message when root starts `serve` without --user.
inline constexpr std::string_view kRootWithoutUser =
    "running as root: give --user NAME to drop privileges (or --user root to keep them, not recommended)";

/// setgroups/initgroups, setgid, setuid; then checks that root cannot be regained.
/// Throws std::runtime_error naming the step that failed.
void drop_privileges(const Account& user, gid_t gid);

}  // namespace cppapi
