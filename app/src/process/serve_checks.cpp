// SPDX-License-Identifier: MIT
#include "process/serve_checks.hpp"

#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "core/config.hpp"
#include "fastcgi/peer_allow_list.hpp"

namespace cppapi {
namespace {

void check_pool_keys(const Settings& settings) {
  if (settings.processes == 0 && (settings.max_requests > 0 || settings.request_timeout_ms > 0))
    throw std::runtime_error(
        "max_requests and request_timeout end the serving process; give --processes N so that a "
        "master replaces it");
}

void check_socket_keys(const Settings& settings) {
  validate_settings(settings);
  const bool unix_socket = settings.listen.rfind("unix:", 0) == 0;
  if (!unix_socket && (!settings.socket_owner.empty() || !settings.socket_group.empty()))
    throw std::runtime_error("socket_owner and socket_group apply to a unix socket only");
  if (!settings.socket_owner.empty()) (void)find_user(settings.socket_owner);
  if (!settings.socket_group.empty()) (void)find_group(settings.socket_group);
}

WorkerIdentity resolve_identity(const Settings& settings, bool own_socket) {
  const bool root = ::geteuid() == 0;
  if (settings.user.empty()) {
    if (!settings.group.empty()) throw std::runtime_error("--group needs --user");
    if (root && own_socket) throw std::runtime_error(std::string(kRootWithoutUser));
    return {};
  }
  const Account account = find_user(settings.user);
  const gid_t gid = settings.group.empty() ? account.gid : find_group(settings.group);
  if (!root && (account.uid != ::geteuid() || gid != ::getegid()))
    throw std::runtime_error(fmt::format("--user {}: only root can switch to another user", settings.user));
  if (!root || account.uid == 0) return {};
  return WorkerIdentity{account, gid};
}

}  // namespace

WorkerIdentity check_serve_settings(const Settings& settings, bool own_socket) {
  (void)PeerAllowList::from(settings.allow_from, std::getenv("FCGI_WEB_SERVER_ADDRS"));
  if (own_socket) {
    check_pool_keys(settings);  // a spawner replaces a process that retires; nobody replaces ours
    check_socket_keys(settings);
  }
  return resolve_identity(settings, own_socket);
}

LogFileOwner log_owner_for(const WorkerIdentity& identity) {
  if (!identity.account) return {};
  return LogFileOwner{identity.account->uid, identity.gid};
}

}  // namespace cppapi
